//! placeholder
pub mod cleanup;
mod error_chain;
pub mod leader;
pub mod status;
