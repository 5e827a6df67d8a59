//! (cli) module.
