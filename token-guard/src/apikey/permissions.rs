//! Roles as permission sets: `resource:action` strings and the check a handler makes.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use super::{Principal, Role};
use crate::Error;

/// One `resource:action` permission, for example `library:read` or `keys:create`.
///
/// Each half is 1-32 of `[a-z0-9_-]`, or `*` meaning any. Parsing is strict so a typo in a
/// role definition fails at startup instead of silently granting nothing.
///
/// ```
/// use hearth_token_guard::apikey::Permission;
///
/// let wanted = Permission::parse("library:read")?;
/// assert!(Permission::parse("library:*")?.covers(&wanted));
/// assert!(!Permission::parse("keys:read")?.covers(&wanted));
/// assert!(Permission::parse("Library:Read").is_err());
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    resource: String,
    action: String,
}

const ANY: &str = "*";

impl Permission {
    /// Parses `resource:action`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (resource, action) = text.split_once(':').ok_or(Error::InvalidPermission {
            reason: "a permission is resource:action",
        })?;
        Ok(Self {
            resource: part(resource)?,
            action: part(action)?,
        })
    }

    /// The resource half.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The action half.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// Whether holding `self` grants `wanted` (`*` on either half of `self` matches anything).
    pub fn covers(&self, wanted: &Permission) -> bool {
        let half = |have: &str, want: &str| have == ANY || have == want;
        half(&self.resource, &wanted.resource) && half(&self.action, &wanted.action)
    }
}

fn part(text: &str) -> Result<String, Error> {
    let valid = text == ANY
        || ((1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Error::InvalidPermission {
            reason: "each half of resource:action is * or 1 to 32 of a-z 0-9 _ -",
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

/// The permissions one role holds.
///
/// ```
/// use hearth_token_guard::apikey::PermissionSet;
///
/// let uploader = PermissionSet::parse(["media:read", "media:upload"])?;
/// assert!(uploader.allows("media:upload")?);
/// assert!(!uploader.allows("keys:create")?);
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    /// Parses every `resource:action` string; the first bad one is the error.
    pub fn parse<'a>(permissions: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        permissions
            .into_iter()
            .map(Permission::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether some permission in the set covers `wanted` (`resource:action`, no wildcards).
    pub fn allows(&self, wanted: &str) -> Result<bool, Error> {
        let wanted = Permission::parse(wanted)?;
        if wanted.resource == ANY || wanted.action == ANY {
            return Err(Error::InvalidPermission {
                reason: "a checked permission names one resource and one action",
            });
        }
        Ok(self.0.iter().any(|have| have.covers(&wanted)))
    }

    /// The permissions, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }
}

/// Which permissions each role holds: the three built-in roles plus app-defined ones.
///
/// Built-in defaults (seed 004's MediaEngine): `administrator` holds `*:*`, `curator`
/// holds `*:read` and `*:write`, `consumer` holds `*:read`. An app may redefine them. A
/// custom role that was never defined holds nothing: checks fail closed.
///
/// ```
/// use hearth_token_guard::apikey::{KeyId, PermissionSet, Principal, Role, Roles};
///
/// let mut roles = Roles::builtin();
/// roles.define(Role::parse("uploader")?, PermissionSet::parse(["media:upload"])?);
///
/// let consumer = Role::Consumer;
/// assert!(roles.check(&consumer, "library:read").is_ok());
/// let refused = roles.check(&consumer, "library:write").unwrap_err();
/// assert_eq!(refused.to_string(), "role consumer does not grant library:write");
/// assert!(roles.check(&Role::parse("uploader")?, "media:upload").is_ok());
/// assert!(roles.check(&Role::parse("ghost")?, "media:read").is_err());
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Roles {
    sets: HashMap<Role, PermissionSet>,
}

impl Roles {
    /// The three built-in roles with their default permissions, and no custom roles.
    pub fn builtin() -> Self {
        let set = |perms: &[&str]| {
            PermissionSet(
                perms
                    .iter()
                    .map(|p| Permission::parse(p).expect("built-in permissions are valid"))
                    .collect(),
            )
        };
        let sets = HashMap::from([
            (Role::Administrator, set(&["*:*"])),
            (Role::Curator, set(&["*:read", "*:write"])),
            (Role::Consumer, set(&["*:read"])),
        ]);
        Self { sets }
    }

    /// Defines (or redefines) what `role` holds.
    pub fn define(&mut self, role: Role, permissions: PermissionSet) -> &mut Self {
        self.sets.insert(role, permissions);
        self
    }

    /// What `role` holds; `None` for a custom role never defined.
    pub fn permissions(&self, role: &Role) -> Option<&PermissionSet> {
        self.sets.get(role)
    }

    /// `Ok(())` when `role` grants `permission`, otherwise [`Error::Forbidden`] (or
    /// [`Error::InvalidPermission`] for a malformed `permission`).
    pub fn check(&self, role: &Role, permission: &str) -> Result<(), Error> {
        let allowed = match self.sets.get(role) {
            Some(set) => set.allows(permission)?,
            None => {
                Permission::parse(permission)?;
                false
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::Forbidden {
                role: role.to_string(),
                permission: permission.to_owned(),
            })
        }
    }

    /// [`check`](Self::check) for a verified key's principal.
    pub fn authorize(&self, principal: &Principal, permission: &str) -> Result<(), Error> {
        self.check(&principal.role, permission)
    }
}

impl Default for Roles {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_follow_the_documented_defaults() {
        let roles = Roles::builtin();
        for (role, perm, ok) in [
            (Role::Administrator, "keys:create", true),
            (Role::Curator, "library:write", true),
            (Role::Curator, "keys:create", false),
            (Role::Consumer, "library:read", true),
            (Role::Consumer, "library:write", false),
        ] {
            assert_eq!(roles.check(&role, perm).is_ok(), ok, "{role} {perm}");
        }
    }

    #[test]
    fn a_redefined_builtin_replaces_its_defaults() {
        let mut roles = Roles::builtin();
        roles.define(
            Role::Consumer,
            PermissionSet::parse(["status:read"]).unwrap(),
        );
        assert!(roles.check(&Role::Consumer, "status:read").is_ok());
        assert!(roles.check(&Role::Consumer, "library:read").is_err());
    }

    #[test]
    fn malformed_permissions_are_errors_not_denials() {
        for bad in ["", "read", ":", "a:", ":b", "a:b:c", "A:b", "a b:c", "a:**"] {
            assert!(
                matches!(Permission::parse(bad), Err(Error::InvalidPermission { .. })),
                "{bad:?}"
            );
        }
        let roles = Roles::builtin();
        assert!(matches!(
            roles.check(&Role::Administrator, "library"),
            Err(Error::InvalidPermission { .. })
        ));
        assert!(matches!(
            roles.check(&Role::Administrator, "*:read"),
            Err(Error::InvalidPermission { .. })
        ));
    }

    #[test]
    fn wildcards_match_one_half_only() {
        let set = PermissionSet::parse(["media:*", "*:status"]).unwrap();
        assert!(set.allows("media:delete").unwrap());
        assert!(set.allows("system:status").unwrap());
        assert!(!set.allows("system:restart").unwrap());
    }
}
