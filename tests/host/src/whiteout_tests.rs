use crate::whiteout::*;

#[test]
fn internal_names() {
    assert!(is_internal(b".wh.foo"));
    assert!(is_internal(b".wh..wh..opq"));
    assert!(is_internal(b".wh..wh.plnk"));
    assert!(!is_internal(b".whfoo"));
    assert!(!is_internal(b"foo.wh."));
    assert!(!is_internal(b".w"));
}

#[test]
fn whiteout_names() {
    let mut buf = [0u8; NAME_MAX];
    assert_eq!(whiteout_of(b"foo", &mut buf), Some(&b".wh.foo"[..]));
    let long = [b'x'; NAME_MAX - 4];
    assert_eq!(whiteout_of(&long, &mut buf).map(|s| s.len()), Some(NAME_MAX));
    let too_long = [b'x'; NAME_MAX - 3];
    assert_eq!(whiteout_of(&too_long, &mut buf), None);
    assert_eq!(MAX_NAME_LEN, 242);
}

#[test]
fn hidden() {
    assert_eq!(hidden_name(b".wh.foo"), Some(&b"foo"[..]));
    assert_eq!(hidden_name(b".wh..wh..opq"), None);
    assert_eq!(hidden_name(b".wh."), None);
    assert_eq!(hidden_name(b"foo"), None);
}
