//! Tests of the MetaImage and NRRD readers and the per-structure mask merge.
