//! compute api
