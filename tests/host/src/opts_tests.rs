use crate::opts::*;

fn all(list: &str) -> Result<Vec<BranchSpec<'_>>, OptError<'_>> {
    branches(list).collect()
}

fn bp(perm: Perm, wh: bool, nolwh: bool) -> Option<BranchPerm> {
    Some(BranchPerm { perm, wh, nolwh })
}

#[test]
fn split_branch_keys_on_colon_or_equals() {
    assert_eq!(split_key_value("br:/a=rw:/b"), ("br", Some("/a=rw:/b")));
    assert_eq!(split_key_value("br=/a:/b=ro"), ("br", Some("/a:/b=ro")));
    assert_eq!(split_key_value("dirs=/x:/y"), ("dirs", Some("/x:/y")));
    assert_eq!(split_key_value("append:/c=ro+wh"), ("append", Some("/c=ro+wh")));
}

#[test]
fn split_other_keys_on_equals_only() {
    assert_eq!(split_key_value("udba=reval"), ("udba", Some("reval")));
    assert_eq!(split_key_value("create=mfs:60"), ("create", Some("mfs:60")));
    assert_eq!(split_key_value("dio"), ("dio", None));
    assert_eq!(split_key_value("xino=/dev/shm/a:b"), ("xino", Some("/dev/shm/a:b")));
}

#[test]
fn items_skip_empty() {
    let v: Vec<_> = items("br=/a,,dio,").collect();
    assert_eq!(v, ["br=/a", "dio"]);
}

#[test]
fn branch_list_with_and_without_perms() {
    let v = all("/rw=rw:/l1=ro:/l2").unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0], BranchSpec { path: "/rw", perm: bp(Perm::Rw, false, false) });
    assert_eq!(v[1], BranchSpec { path: "/l1", perm: bp(Perm::Ro, false, false) });
    assert_eq!(v[2], BranchSpec { path: "/l2", perm: None });
}

#[test]
fn attributes() {
    let v = all("/a=rw+nolwh:/b=ro+wh:/c=rr+wh:/d=rr").unwrap();
    assert_eq!(v[0].perm, bp(Perm::Rw, false, true));
    assert_eq!(v[1].perm, bp(Perm::Ro, true, false));
    assert_eq!(v[2].perm, bp(Perm::Rr, true, false));
    assert_eq!(v[3].perm, bp(Perm::Rr, false, false));
    assert_eq!(format!("{}", v[1].perm.unwrap()), "ro+wh");
    assert_eq!(format!("{}", v[0].perm.unwrap()), "rw+nolwh");
}

#[test]
fn defaults_first_rw_rest_ro() {
    assert_eq!(BranchPerm::default_for(0).perm, Perm::Rw);
    assert_eq!(BranchPerm::default_for(1).perm, Perm::Ro);
    assert_eq!(BranchPerm::default_for(126).perm, Perm::Ro);
}

#[test]
fn whiteouts_honoured_on_rw_and_wh_only() {
    assert!(parse_perm("/a", "rw").unwrap().honours_whiteouts());
    assert!(parse_perm("/a", "ro+wh").unwrap().honours_whiteouts());
    assert!(!parse_perm("/a", "ro").unwrap().honours_whiteouts());
    assert!(!parse_perm("/a", "rr").unwrap().honours_whiteouts());
}

#[test]
fn bad_perms_name_the_branch() {
    let e = all("/a=rx").unwrap_err();
    assert_eq!(e, OptError::UnknownPerm { path: "/a", perm: "rx" });
    assert_eq!(e.errno(), EINVAL);
    assert!(e.to_string().contains("/a") && e.to_string().contains("rx"));
    assert_eq!(all("/a=ro+foo").unwrap_err(), OptError::UnknownPerm { path: "/a", perm: "ro+foo" });
    assert_eq!(all("/a=rw+wh").unwrap_err(), OptError::BadAttr { path: "/a", perm: "rw+wh" });
    assert_eq!(all("/a=ro+nolwh").unwrap_err(), OptError::BadAttr { path: "/a", perm: "ro+nolwh" });
    assert_eq!(all("/a=").unwrap_err(), OptError::UnknownPerm { path: "/a", perm: "" });
}

#[test]
fn empty_lists_and_paths() {
    assert_eq!(all("").unwrap_err(), OptError::EmptyBranchList);
    assert_eq!(all(":").unwrap_err(), OptError::EmptyBranchList);
    assert_eq!(all("/a::/b").unwrap_err(), OptError::EmptyPath);
    assert_eq!(all("=rw").unwrap_err(), OptError::EmptyPath);
    // A trailing ':' is tolerated as in aufs.
    assert_eq!(all("/a:/b:").unwrap().len(), 2);
}

#[test]
fn branch_limit() {
    let ok = vec!["/x"; MAX_BRANCHES].join(":");
    assert_eq!(all(&ok).unwrap().len(), MAX_BRANCHES);
    let too_many = vec!["/x"; MAX_BRANCHES + 1].join(":");
    let e = all(&too_many).unwrap_err();
    assert_eq!(e, OptError::TooManyBranches(MAX_BRANCHES + 1));
    assert_eq!(e.errno(), E2BIG);
    assert!(e.to_string().contains("127"));
}

#[test]
fn options() {
    assert_eq!(parse("br", Some("/a:/b")), Ok(Opt::Branches("/a:/b")));
    assert_eq!(parse("dirs", Some("/a")), Ok(Opt::Branches("/a")));
    assert_eq!(parse("br", None), Err(OptError::MissingValue("br")));
    assert_eq!(parse("udba", Some("none")), Ok(Opt::Udba(Udba::None)));
    assert_eq!(parse("udba", Some("reval")), Ok(Opt::Udba(Udba::Reval)));
    assert_eq!(parse("udba", Some("x")), Err(OptError::BadValue { key: "udba", value: "x" }));
    assert_eq!(parse("dio", None), Ok(Opt::Ignored("dio")));
    assert_eq!(parse("dio", Some("1")), Err(OptError::UnexpectedValue("dio")));
    assert_eq!(parse("si", Some("abc")), Ok(Opt::Ignored("si")));
    assert_eq!(parse("dirperm1", None), Ok(Opt::Ignored("dirperm1")));
    assert_eq!(parse("xino", Some("/dev/shm/aufs.xino")), Ok(Opt::Xino("/dev/shm/aufs.xino")));
    assert_eq!(parse("xino", Some("rel/x")), Err(OptError::BadValue { key: "xino", value: "rel/x" }));
    assert_eq!(parse("xino", Some("/dir/")), Err(OptError::BadValue { key: "xino", value: "/dir/" }));
    assert_eq!(parse("xino", None), Err(OptError::MissingValue("xino")));
    assert_eq!(parse("noxino", None), Ok(Opt::NoXino));
    assert_eq!(parse("noxino", Some("1")), Err(OptError::UnexpectedValue("noxino")));
    assert_eq!(parse("plink", None), Ok(Opt::Plink(true)));
    assert_eq!(parse("noplink", None), Ok(Opt::Plink(false)));
    assert_eq!(parse("noplink", Some("1")), Err(OptError::UnexpectedValue("noplink")));
    assert_eq!(parse("clean_plink", None), Ok(Opt::CleanPlink));
    assert_eq!(parse("trunc_xino", None), Ok(Opt::TruncXino(true)));
    assert_eq!(parse("notrunc_xino", None), Ok(Opt::TruncXino(false)));
    assert_eq!(parse("persist_ino", None), Ok(Opt::PersistIno(true)));
    assert_eq!(parse("nopersist_ino", None), Ok(Opt::PersistIno(false)));
    assert_eq!(parse("persist_ino", Some("1")), Err(OptError::UnexpectedValue("persist_ino")));
    assert_eq!(parse("create", Some("mfs:60")), Ok(Opt::NotYet("create")));
    assert_eq!(parse("create", Some("pmfsrr:10:60")), Ok(Opt::NotYet("create")));
    assert!(parse("create", Some("bogus")).is_err());
    assert!(parse("create", Some("mfs:x")).is_err());
    assert_eq!(parse("cpup", Some("bup")), Ok(Opt::NotYet("cpup")));
    assert_eq!(parse("dirwh", Some("3")), Ok(Opt::NotYet("dirwh")));
    assert!(parse("dirwh", Some("x")).is_err());
    let e = parse("foo", Some("1")).unwrap_err();
    assert_eq!(e, OptError::UnknownOption("foo"));
    assert!(e.to_string().contains("foo"));
    assert_eq!(parse("bogus", None), Err(OptError::UnknownOption("bogus")));
}
