//! re (with i/m/s), cidr, lt/lte/gt/gte, time parts.

use super::run;
use crate::case;

#[test]
fn regex() {
    run(&[
        case!("re", "sel:\n    CommandLine|re: '-[eE][nN][cC] [A-Za-z0-9+/=]{8,}'\ncondition: sel", {"CommandLine": "ps -enc SQBFAFgAKAA="} => true),
        case!("re is case-sensitive", "sel:\n    Name|re: '^abc$'\ncondition: sel", {"Name": "ABC"} => false),
        case!("re i", "sel:\n    Name|re|i: '^abc$'\ncondition: sel", {"Name": "ABC"} => true),
        case!("re m", "sel:\n    Text|re|m: '^second$'\ncondition: sel", {"Text": "first\nsecond\nthird"} => true),
        case!("re without m", "sel:\n    Text|re: '^second$'\ncondition: sel", {"Text": "first\nsecond\nthird"} => false),
        case!("re s", "sel:\n    Text|re|s: 'first.second'\ncondition: sel", {"Text": "first\nsecond"} => true),
        case!("re without s", "sel:\n    Text|re: 'first.second'\ncondition: sel", {"Text": "first\nsecond"} => false),
        case!("re unanchored", "sel:\n    Name|re: 'b.d'\ncondition: sel", {"Name": "abcde"} => true),
    ]);
}

#[test]
fn cidr() {
    run(&[
        case!("v4 in", "sel:\n    DestinationIp|cidr: 10.0.0.0/8\ncondition: sel", {"DestinationIp": "10.1.2.3"} => true),
        case!("v4 out", "sel:\n    DestinationIp|cidr: 10.0.0.0/8\ncondition: sel", {"DestinationIp": "11.1.2.3"} => false),
        case!("v6 in", "sel:\n    DestinationIp|cidr: 'fe80::/10'\ncondition: sel", {"DestinationIp": "fe80::1"} => true),
        case!("list", "sel:\n    DestinationIp|cidr: [192.168.0.0/16, 172.16.0.0/12]\ncondition: sel", {"DestinationIp": "172.20.0.1"} => true),
        case!("not an ip", "sel:\n    DestinationIp|cidr: 10.0.0.0/8\ncondition: sel", {"DestinationIp": "host"} => false),
    ]);
}

#[test]
fn numeric_comparisons() {
    run(&[
        case!("lt", "sel:\n    Size|lt: 10\ncondition: sel", {"Size": 9} => true),
        case!("lt equal", "sel:\n    Size|lt: 10\ncondition: sel", {"Size": 10} => false),
        case!("lte", "sel:\n    Size|lte: 10\ncondition: sel", {"Size": "10"} => true),
        case!("gt", "sel:\n    Size|gt: 10\ncondition: sel", {"Size": 10.5} => true),
        case!("gte", "sel:\n    Size|gte: 10\ncondition: sel", {"Size": 9} => false),
        case!("not a number", "sel:\n    Size|gt: 10\ncondition: sel", {"Size": "big"} => false),
    ]);
}

#[test]
fn time_parts() {
    run(&[
        case!("hour", "sel:\n    ts|hour: 3\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => true),
        case!("hour miss", "sel:\n    ts|hour: 4\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => false),
        case!("minute", "sel:\n    ts|minute: 4\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => true),
        case!("day", "sel:\n    ts|day: 6\ncondition: sel", {"ts": "2024-05-06 03:04:05"} => true),
        case!("week", "sel:\n    ts|week: 19\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => true),
        case!("month", "sel:\n    ts|month: 5\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => true),
        case!("year", "sel:\n    ts|year: 2024\ncondition: sel", {"ts": "2024-05-06T03:04:05Z"} => true),
        case!("hour gte chained", "sel:\n    ts|hour|gte: 22\ncondition: sel", {"ts": "2024-05-06T23:00:00Z"} => true),
        case!("hour lt chained", "sel:\n    ts|hour|lt: 6\ncondition: sel", {"ts": "2024-05-06T23:00:00Z"} => false),
    ]);
}
