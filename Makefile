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
# (with its ground truth), checked against the clinical-minimal protocol card, then
# processed with the steps that exist: MP-PCA denoising and DTI of the DWI, cord
# segmentation of the axial T2w and cord area per vertebral level.
SUB := $(DEMO_DIR)/sub-phantom01
TRUTH := $(DEMO_DIR)/derivatives/truth/sub-phantom01
OUT := $(DEMO_DIR)/derivatives/cordq/sub-phantom01
demo: build
	rm -rf $(DEMO_DIR)
	$(CORDQ) phantom $(DEMO_DIR)
	$(CORDQ) info $(SUB)/anat/*_T2w.nii.gz $(SUB)/dwi/*_dwi.nii.gz
	$(CORDQ) protocol check $(SUB) --protocol clinical-minimal
	mkdir -p $(OUT)/dwi $(OUT)/anat
	$(CORDQ) denoise mppca $(SUB)/dwi/sub-phantom01_dwi.nii.gz $(OUT)/dwi/sub-phantom01_desc-denoised_dwi.nii.gz \
		--noise $(OUT)/dwi/sub-phantom01_desc-sigma_dwi.nii.gz
	cp $(SUB)/dwi/sub-phantom01_dwi.bval $(OUT)/dwi/sub-phantom01_desc-denoised_dwi.bval
	cp $(SUB)/dwi/sub-phantom01_dwi.bvec $(OUT)/dwi/sub-phantom01_desc-denoised_dwi.bvec
	$(CORDQ) dwi dti --dwi $(OUT)/dwi/sub-phantom01_desc-denoised_dwi.nii.gz -o $(OUT)/dwi/dti
	$(CORDQ) seg cord $(SUB)/anat/sub-phantom01_acq-ax_T2w.nii.gz $(OUT)/anat/sub-phantom01_acq-ax_label-cord_mask.nii.gz --contrast t2
	$(CORDQ) seg morphometry $(OUT)/anat/sub-phantom01_acq-ax_label-cord_mask.nii.gz \
		--levels $(TRUTH)/anat/sub-phantom01_acq-ax_desc-levels_dseg.nii.gz --per-level \
		-o $(OUT)/anat/sub-phantom01_acq-ax_morphometry.tsv
	@echo "cord area per level (mm²), measured vs the phantom's truth in $(TRUTH)/anat/*_desc-truth_parameters.json:"
	@cut -f1-3 $(OUT)/anat/sub-phantom01_acq-ax_morphometry.tsv

test: deps
	$(SWIFT) test

clean:
	rm -rf .build $(DEMO_DIR)
