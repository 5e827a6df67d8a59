//! Entry point of the `medvision-build` binary.
fn main() {}
