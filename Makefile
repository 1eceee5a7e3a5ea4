# The two commands: `make book` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.installed
# Output root: the site lands in $(OUT)/_build/html (so `make book` gives ./_build/html).
OUT      ?= .
# Source folder of the book (the folder holding _config.yml and _toc.yml). The build-gate
# tests point it at a throw-away book with a failing cell to show that the gates fail.
SRC      ?= .
NOTEBOOKS ?= $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
JOBS     ?= 2

help:
	@echo "make book     build the executed site into _build/html (creates .venv first)"
	@echo "make test     unit + property tests, every chapter under nbval (CI=true), book build check"
	@echo "make student  student edition: site without solutions + notebooks without solution cells"
	@echo "make lab      open the chapters in JupyterLab (installs jupyterlab into .venv once)"
	@echo "make test-site     the built site in headless chromium (online and offline edition)"
	@echo "make binder-check  a fresh Binder environment runs every chapter (each under 2 GB)"
	@echo "make course / assignments / grades / test-course   nbgrader (see README)"
	@echo "make book OFFLINE=1   the offline edition (MathJax and widgets in _static)"
	@echo "make clean    remove build outputs (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

# ---------------------------------------------------------------------------------------
book: $(STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory build-html SRC=$(SRC) OUT=$(OUT); \
	echo "Site built in $$(( $$(date +%s) - start )) s: open $(abspath $(OUT))/_build/html/index.html"

# Every notebook is executed once, JOBS at a time, each in its own kernel (mftheory._bookrun:
# a failing cell stops here with its traceback; time and peak memory go to the status page),
# into an executed copy of the book in $(OUT)/_build/src, which Jupyter Book then renders without
# executing again. Warnings are errors (-W), every warning is reported (--keep-going), references
# are checked (-n). CI=true (set by `make test`) runs the chapters at small scale.
# OFFLINE=1: the offline edition, which ships MathJax and the widget manager in _build/html/_static
# (a site that works from a folder or a USB stick, without internet).
build-html: $(if $(OFFLINE),site-assets)
	$(BIN)/python -m mftheory._bookrun execute $(SRC) $(OUT)/_build/src --jobs $(JOBS) $(if $(CI),--ci)
	$(if $(OFFLINE),$(BIN)/python -m mftheory._bookrun offline $(OUT)/_build/src $(SITE_PKGS))
	$(BIN)/jupyter-book build $(OUT)/_build/src --path-output $(OUT) -W -n --keep-going

# MathJax 3, the Jupyter widgets' HTML manager and RequireJS from the npm registry (npm pack: the
# packages alone, no dependencies), for the offline edition and the browser tests.
SITE_PKGS := .cache/site-pkgs
SITE_NPM  := mathjax@3.2.2 @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.4
$(SITE_PKGS)/.done:
	@mkdir -p $(SITE_PKGS)
	cd $(SITE_PKGS) && npm pack --silent $(SITE_NPM) > /dev/null && \
	  for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}" --strip-components=1; done
	@touch $@
site-assets: $(SITE_PKGS)/.done

# ---------------------------------------------------------------------------------------
# Each chapter is executed once (in book-check, as CI runs it), not twice: `make nbval` runs the
# same chapters under nbval for developers who want pytest's report.
test: $(STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory unit; \
	$(MAKE) --no-print-directory book-check; \
	$(MAKE) --no-print-directory book-stored; \
	echo "make test passed in $$(( $$(date +%s) - start )) s"

# Unit and property tests, then the docstring examples of the package (tests/benchmarks/ holds
# timing scripts that are run by hand, not collected: their names do not start with test_).
# Two pytest workers share the two cores, so each gets one torch/OpenMP thread: with two threads
# per worker the workers' spinning threads fight and torch code runs up to 40 times slower.
unit: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(JOBS) --ignore=tests/site tests
	$(BIN)/python -m pytest -q --doctest-modules mftheory

# Each chapter as CI runs it: small scale (CI=true), errors only (--nbval-lax: the science
# is checked by the asserts inside the cells), one chapter per worker (--dist loadscope).
nbval: $(STAMP)
	CI=true MFTHEORY_SWEEPS=$(abspath $(OUT))/_build/nbval-no-stored-grids MPLBACKEND=agg \
	  OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	  --nbval-current-env --nbval-cell-timeout=900 -n $(JOBS) --dist loadscope $(NOTEBOOKS)

# The site must build with no warnings; built into a scratch folder so it never clobbers
# the reader's _build. An empty results store: full-size grids that a run of
# `python -m mftheory.sweep` stored on this machine are for `make book`, not for the test.
book-check: $(STAMP)
	@rm -rf $(OUT)/_build/check
	CI=true MFTHEORY_SWEEPS=$(abspath $(OUT))/_build/check/no-stored-grids \
	  $(MAKE) --no-print-directory build-html SRC=$(SRC) OUT=$(OUT)/_build/check
	@test -f $(OUT)/_build/check/_build/html/index.html
	@cat $(OUT)/_build/check/_build/src/status.json > /dev/null
	@echo "book-check: built with no warnings"

# The chapters whose full-size grids come with the book (book/data/sweeps, written by
# `python -m mftheory.sweep run NAME --store book/data/sweeps`), run with those grids: what
# `make book` shows. (book-check above runs every chapter at CPU size, with no stored grid.)
STORED_GRID_CHAPTERS := $(SRC)/book/gradient_descent.ipynb $(SRC)/book/signal_propagation.ipynb
book-stored: $(STAMP)
	CI=true MFTHEORY_SWEEPS=$(abspath $(SRC))/book/data/sweeps MPLBACKEND=agg OMP_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=900 -n $(JOBS) --dist loadscope $(STORED_GRID_CHAPTERS)

# Binder-sized chapters: a fresh virtual environment from .binder/requirements.txt alone (what Binder
# installs), then every chapter top to bottom in default mode (no CI variable), one at a time; each
# kernel's peak memory must stay under 2 GB. The results are written to book/data/binder-check.json
# (commit it): the status page shows them beside the build's own table.
BINDER_VENV := .cache/binder-venv
BINDER_LIMIT_MB := 2048
binder-check:
	rm -rf $(BINDER_VENV) $(OUT)/_build/binder
	$(PYTHON) -m venv $(BINDER_VENV)
	@start=$$(date +%s); $(BINDER_VENV)/bin/python -m pip install -q --retries 1 --timeout 10 -r .binder/requirements.txt; \
	  echo "binder-check: environment installed in $$(( $$(date +%s) - start )) s"
	env -u CI $(BINDER_VENV)/bin/python -m mftheory._bookrun execute $(SRC) $(OUT)/_build/binder --jobs 1
	@mkdir -p book/data && cp $(OUT)/_build/binder/status.json book/data/binder-check.json
	$(BINDER_VENV)/bin/python -c "import json, sys; s = json.load(open('book/data/binder-check.json')); \
	  big = [(r['notebook'], r['peak_mb']) for r in s['notebooks'] if r['peak_mb'] > $(BINDER_LIMIT_MB)]; \
	  print('binder-check: every chapter under $(BINDER_LIMIT_MB) MB' if not big else big); sys.exit(bool(big))"

# The reader's site in a real browser (headless Debian chromium driven by Playwright): the site
# that book-check built, with the CDNs served from local copies, and its offline edition
# (rendered again from the same executed notebooks, nothing re-executed) with the network cut.
PLAYWRIGHT := playwright==1.65.2
test-site: $(STAMP) site-assets
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install -q $(PLAYWRIGHT)
	@test -f $(OUT)/_build/check/_build/html/index.html || $(MAKE) --no-print-directory book-check
	@rm -rf $(OUT)/_build/check-offline && mkdir -p $(OUT)/_build/check-offline
	cp -r $(OUT)/_build/check/_build/src $(OUT)/_build/check-offline/src
	$(BIN)/python -m mftheory._bookrun offline $(OUT)/_build/check-offline/src $(SITE_PKGS)
	$(BIN)/jupyter-book build $(OUT)/_build/check-offline/src --path-output $(OUT)/_build/check-offline \
	  -W -n --keep-going > $(OUT)/_build/check-offline/build.log 2>&1 || \
	  { tail -40 $(OUT)/_build/check-offline/build.log; exit 1; }
	SITE_ONLINE=$(abspath $(OUT))/_build/check/_build/html \
	SITE_OFFLINE=$(abspath $(OUT))/_build/check-offline/_build/html SITE_PKGS=$(abspath $(SITE_PKGS)) \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/site

# ---------------------------------------------------------------------------------------
# The student edition is built from the stripped notebooks (solutions removed by
# mftheory.teaching), not by sphinx-exercise's hide_solutions alone: hide_solutions crashes on
# gated solutions (solution-start/solution-end) with sphinx-exercise 1.2.1.
STUDENT_OUT ?= .
student: $(STAMP)
	@rm -rf $(STUDENT_OUT)/student $(STUDENT_OUT)/_build/student
	$(BIN)/python -m mftheory.teaching student-notebooks $(SRC)/book $(STUDENT_OUT)/student/notebooks
	@mkdir -p $(STUDENT_OUT)/_build/student/src
	cp -r $(SRC)/book $(SRC)/_toc.yml $(STUDENT_OUT)/_build/student/src/
	cp -r $(STUDENT_OUT)/student/notebooks/. $(STUDENT_OUT)/_build/student/src/book/
	$(BIN)/python -m mftheory.teaching student-config $(SRC)/_config.yml \
	  $(STUDENT_OUT)/_build/student/src/_config.yml
	$(BIN)/jupyter-book build $(STUDENT_OUT)/_build/student/src --path-output $(STUDENT_OUT)/_build/student \
	  -W -n --keep-going
	@echo "Student site: $(abspath $(STUDENT_OUT))/_build/student/_build/html/index.html; notebooks: $(abspath $(STUDENT_OUT))/student/notebooks/"

lab: $(STAMP)
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab book

clean:
	rm -rf _build student .pytest_cache

.PHONY: help venv book build-html test unit nbval book-check book-stored student lab clean site-assets test-site binder-check

# ---------------------------------------------------------------------------------------
# Course assignments with nbgrader (mftheory.course), an optional extra for instructors:
# requirements-course.txt is installed into .venv on first use (it adds packages and changes
# none of requirements.txt's pins). COURSE is the nbgrader course folder; CHAPTERS limits the
# assignments to some chapters (default: every chapter with exercises). GRADE_TIMEOUT: seconds
# per cell when autograding (a cell that runs longer, e.g. an infinite loop, is interrupted).
COURSE        ?= course
CHAPTERS      ?=
GRADE_TIMEOUT ?= 120
COURSE_STAMP  := $(VENV)/.course-installed
# nbgrader runs alembic (its database migrations) from PATH: .venv/bin first.
NBGRADER      := PATH=$(abspath $(BIN)):$$PATH $(abspath $(BIN))/nbgrader
$(COURSE_STAMP): requirements-course.txt $(STAMP)
	$(BIN)/python -m pip install -q -r requirements-course.txt
	@touch $@
course: $(COURSE_STAMP)

# Source assignments (solution regions, locked test cells with points) and their student
# versions in $(COURSE)/release: hand those out (or `nbgrader release_assignment` on a hub).
assignments: $(COURSE_STAMP)
	$(BIN)/python -m mftheory.course assignments book $(COURSE) --timeout $(GRADE_TIMEOUT) $(CHAPTERS)
	cd $(COURSE) && for a in $$(ls source); do \
	  $(NBGRADER) generate_assignment $$a --force --log-level=WARN; done
	@echo "Student versions: $(abspath $(COURSE))/release/<chapter>/"

# Autograde every submission in $(COURSE)/submitted/<student>/<chapter>/, at CI scale, export the
# gradebook to $(COURSE)/grades.csv and write a per-student, per-exercise summary.
grades: $(COURSE_STAMP)
	cd $(COURSE) && for a in $$(ls source); do \
	  if ls submitted/*/$$a > /dev/null 2>&1; then \
	    CI=true MPLBACKEND=agg OMP_NUM_THREADS=1 $(NBGRADER) autograde $$a --log-level=WARN; fi; \
	done
	cd $(COURSE) && $(NBGRADER) export --to grades.csv --log-level=WARN
	$(BIN)/python -m mftheory.course grades $(COURSE) $(COURSE)/grades

# One chapter through the whole cycle with five submissions, and no solution text in any
# student notebook or in the student site (tests/test_course.py; a few minutes).
test-course: $(COURSE_STAMP)
	MFTHEORY_COURSE_TESTS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
	  -n $(JOBS) tests/test_course.py

.PHONY: course assignments grades test-course
