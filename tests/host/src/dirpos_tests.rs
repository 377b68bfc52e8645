use crate::dirpos::*;

#[test]
fn fnv1a_test_vectors() {
    // From the FNV reference test suite.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn positions_fit_and_leave_room_for_dots() {
    for i in 0..10_000u32 {
        let name = format!("name-{i}");
        let w = base(name.as_bytes(), true);
        let n = base(name.as_bytes(), false);
        assert!(w >= 16 && n >= 16);
        assert_eq!(w & 15, 0);
        assert!(n <= i32::MAX as i64);
        assert!(with_index(w, 15) > w && with_index(w, 15) < w + 16);
        assert!(with_index(n, 15) <= i32::MAX as i64);
    }
}

#[test]
fn same_name_same_position_and_index_saturates() {
    assert_eq!(base(b"x", true), base(b"x", true));
    assert_ne!(base(b"x", true), base(b"y", true));
    let b = base(b"x", true);
    assert_eq!(with_index(b, 3), b + 3);
    assert_eq!(with_index(b, 100), b + 15);
}

#[test]
fn narrow_is_the_top_of_wide() {
    // A 31-bit position keeps the top hash bits, so both orders agree roughly.
    let w = base(b"some name", true) >> 32;
    let n = base(b"some name", false);
    assert_eq!(w, n);
}
