#![no_main]
// The body is in the library, shared with the replay test (tests/replay.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fence_fuzz::body("esxi_guest_free")(data));
