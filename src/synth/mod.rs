//! (synth) module.
