//! placeholder
mod error_chain;
pub mod leader;
