//! (pipeline) module.
