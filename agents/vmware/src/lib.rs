//! The program is main.rs. This library only makes its option sets and
//! vmrun's output parsers reachable for the fuzz targets (fuzz/), which
//! feed them arbitrary input; it is no interface of its own.

#[doc(hidden)]
pub mod settings;
#[doc(hidden)]
pub mod spec;
#[doc(hidden)]
pub mod vmrun;
