//! Tests of the write-behind: retention in memory and in SQLite, losses counted.
