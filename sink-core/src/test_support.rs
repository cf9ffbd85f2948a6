//! Support for tests that need an outside service (a broker, an S3 server, HDFS).
//!
//! A test asks [`service`] for the address in an environment variable. When the variable is set,
//! the test runs. When it is not, the test is skipped with a message on the real standard error
//! (visible even though the test harness captures `println!`), unless `SPILLWAY_REQUIRE_SERVICES`
//! is set: then the test fails, so a CI run without its services cannot pass silently.
//!
//! ```
//! let Some(brokers) = sink_core::test_support::service("SPILLWAY_TEST_KAFKA_BROKERS", "a Kafka broker") else {
//!     return; // skipped, and said so
//! };
//! # let _ = brokers;
//! ```

use std::io::Write;

/// The variable that makes a missing service a failure.
pub const REQUIRE_SERVICES: &str = "SPILLWAY_REQUIRE_SERVICES";

/// The value of `var`, or `None` after saying the calling test is skipped. Panics when
/// `SPILLWAY_REQUIRE_SERVICES` is set and `var` is not.
#[track_caller]
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let test = std::thread::current()
                .name()
                .unwrap_or("a test")
                .to_string();
            let required = std::env::var(REQUIRE_SERVICES).is_ok_and(|v| !v.is_empty() && v != "0");
            if required {
                panic!("{test} needs {what}: set {var} (integration/test starts the services)");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: needs {what} ({var} is not set; integration/test starts the services)"
            );
            None
        }
    }
}

/// The median of benchmark measurements: the middle value, or the mean of the two middle ones when
/// there is an even number of them. Panics on an empty slice or a NaN.
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "the median of no measurements");
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).expect("a measurement is NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod median_tests {
    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert!((super::median(&[0.49, 1.18, 0.61, 0.66, 0.96, 1.15]) - 0.81).abs() < 1e-12);
        assert_eq!(super::median(&[5.0]), 5.0);
    }
}
