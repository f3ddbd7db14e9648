//! Arbitrary bytes into the filter language: tokenizing, parsing and every matching question
//! a connector asks must never panic (docs/reference/FILTERS.md; issue 4).
#![no_main]

/// The service's own filter module, compiled here on its own (it depends on std and thiserror).
#[allow(dead_code)]
#[path = "../../src/connectors/filter/mod.rs"]
mod filter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    filter::fuzzing::fuzz_parse_and_match(data);
});
