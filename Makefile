# Every target works on a fresh machine: the virtual environment is created and filled on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
TRAIN_STAMP := $(VENV)/.installed

.PHONY: install train test test-fast lint format bench results notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the package metadata changes; the package itself is installed editable.
# Training needs the core dependencies only; the tests also need the dev and atari extras.
$(TRAIN_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing purejaxrl and what training needs into $(VENV) (the first time: about 1 GB, a few minutes)"
	$(BIN)/pip install --progress-bar on -e .
	touch $(TRAIN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing purejaxrl with the dev and atari extras into $(VENV) (the first time: about 2 GB, a few minutes)"
	$(BIN)/pip install --progress-bar on -e ".[dev,atari]"
	touch $(STAMP) $(TRAIN_STAMP)

install: $(STAMP)

## PPO on CartPole-v1 over 8 seeds in one compiled call, then the result table.
train: $(TRAIN_STAMP)
	$(BIN)/python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8

## The whole suite, slow learning tests and notebooks included (CPU only).
test: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/pytest -n 2 --durations=25

## Unit and contract tests: no learning, process, notebook, Atari-training or slow tests (markers in
## pyproject.toml).
test-fast: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/pytest -n 2 -m "not learning and not process and not notebook and not atari and not slow" --durations=10

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Speed and learning benchmarks; results go to benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python benchmarks/ppo_cartpole.py
	$(BIN)/python benchmarks/ppo_pendulum.py
	$(BIN)/python benchmarks/q_learning_seeds.py
	$(BIN)/python benchmarks/dqn_cartpole.py
	$(BIN)/python benchmarks/ddpg_pendulum.py
	$(BIN)/python benchmarks/sac_pendulum.py
	$(BIN)/python benchmarks/sac_cartpole.py
	$(BIN)/python benchmarks/pqn_cartpole.py
	$(BIN)/python benchmarks/awr_online.py
	$(BIN)/python benchmarks/minatar.py
	$(BIN)/python benchmarks/policy_gradients.py
	$(BIN)/python benchmarks/atari_pong.py
	$(BIN)/python benchmarks/alphazero_cartpole.py
	$(BIN)/python benchmarks/suites.py --part speed

## README's Results table rewritten from the recorded JSONs in benchmarks/results/ (nothing is
## rerun; `python benchmarks/results.py --list` shows each row's command, `--rows ID ...` reruns rows).
results: $(TRAIN_STAMP)
	$(BIN)/python benchmarks/results.py --render

## Executes the notebooks at their full budget and stores them with their outputs (the test
## suite checks the stored outputs and reruns them at a tiny budget).
notebooks: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/pytest --nbmake --overwrite --nbmake-timeout=3600 notebooks

clean:
	rm -rf $(VENV) runs .pytest_cache
