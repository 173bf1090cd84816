//! A remote-write receiver.
