//! `ingester`: see the library documentation.

fn main() {}
