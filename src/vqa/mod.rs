//! (vqa) module.
