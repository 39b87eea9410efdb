# CordQ: set-up, demo and tests. `make demo` and `make test` are the README's two commands.
SWIFT ?= swift
DEMO_DIR ?= demo-output
CORDQ := .build/release/cordq

.PHONY: deps build demo test clean atlas

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product cordq

# The main job on the built-in demo subject: a digital phantom written as a BIDS subject
# (with its ground truth), then described.
demo: build
	rm -rf $(DEMO_DIR)
	$(CORDQ) phantom $(DEMO_DIR)
	$(CORDQ) info $(DEMO_DIR)/sub-phantom01/anat/*.nii.gz

# The project's atlas (atlas/README.md), rebuilt from its definition; deterministic.
atlas: build
	rm -rf atlas/CordQ
	$(CORDQ) atlas build atlas/CordQ --definition atlas/definition.json

test: deps
	$(SWIFT) test

clean:
	rm -rf .build $(DEMO_DIR)
