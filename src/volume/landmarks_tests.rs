//! Unit tests of the landmark readers.
use super::*;
