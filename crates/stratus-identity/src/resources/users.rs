//! Users, their passwords, groups and membership.

use serde_json::{Map, Value};
use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use super::{check_len, check_name, ListFilter};
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{ActorKind, Group, GroupInput, User, UserInput};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

/// Keystone's `[identity] max_password_length`.
const MAX_PASSWORD_LENGTH: usize = 4096;

fn check_password(field: &str, pw: &str) -> Result<()> {
    if pw.len() > MAX_PASSWORD_LENGTH {
        return Err(IdentityError::Validation(format!(
            "Invalid input for field '{field}': longer than {MAX_PASSWORD_LENGTH} characters."
        )));
    }
    Ok(())
}

/// The user options Keystone knows; each is a boolean.
const USER_OPTIONS: [&str; 5] = [
    "ignore_change_password_upon_first_use",
    "ignore_password_expiry",
    "ignore_lockout_failure_attempts",
    "ignore_user_inactivity",
    "lock_password",
];

/// Options after an update: the ones sent replace the stored ones, a null removes one.
fn merged_options(before: &Map<String, Value>, changes: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = before.clone();
    for (k, v) in changes {
        if !USER_OPTIONS.contains(&k.as_str()) {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'user.options': '{k}' is not a user option Stratus knows ({}).",
                USER_OPTIONS.join(", ")
            )));
        }
        match v {
            Value::Null => {
                out.remove(k);
            }
            Value::Bool(_) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'user.options.{k}': must be a boolean or null."
                )))
            }
        }
    }
    Ok(out)
}

fn option_on(options: &Map<String, Value>, name: &str) -> bool {
    options.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn duplicate_user(name: &str) -> String {
    format!("Duplicate entry: a user named '{name}' exists in the domain.")
}

impl IdentityService {
    pub async fn create_user(&self, caller: &AuthContext, input: UserInput) -> Result<User> {
        self.enforce(
            "identity:create_user",
            caller,
            &Target::new().opt("target.user.domain_id", input.domain_id.as_deref()),
        )?;
        let name = check_name("user.name", input.name.as_deref())?;
        check_len("user.email", input.email.as_deref(), 255)?;
        check_len("user.description", input.description.as_deref(), 65535)?;
        let domain_id = input
            .domain_id
            .clone()
            .unwrap_or_else(|| caller.domain_id().unwrap_or(&caller.user_domain_id).to_owned());
        if store::get_domain(self.db(), &domain_id).await?.is_none() {
            return Err(IdentityError::not_found("domain", &domain_id));
        }
        if let Some(p) = &input.default_project_id {
            if store::get_project(self.db(), p).await?.is_none() {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'user.default_project_id': project {p} does not exist."
                )));
            }
        }
        let options = merged_options(&Map::new(), input.options.as_ref().unwrap_or(&Map::new()))?;
        let hash = match &input.password {
            Some(pw) => {
                check_password("user.password", pw)?;
                self.check_password_rules(pw)?;
                Some(self.hash_secret(pw).await?)
            }
            None => None,
        };
        let password_expires_at = match hash {
            Some(_) => self.expiry_of_set_password(&options, true),
            None => None,
        };
        let u = User {
            password_expires_at,
            options,
            id: new_id(),
            name,
            domain_id,
            enabled: input.enabled.unwrap_or(true),
            default_project_id: input.default_project_id,
            description: input.description,
            email: input.email,
            extra: super::new_extras(input.extra),
        };
        store::insert_user(self.db(), &u, hash)
            .await
            .map_err(on_conflict(|| duplicate_user(&u.name)))?;
        self.changed();
        Ok(u)
    }

    pub async fn get_user(&self, caller: &AuthContext, id: &str) -> Result<User> {
        self.enforce("identity:get_user", caller, &Target::new().with("target.user_id", id))?;
        store::get_user(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))
    }

    pub async fn list_users(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<User>> {
        self.enforce(
            "identity:list_users",
            caller,
            &Target::new().opt("target.domain_id", f.domain_id.as_deref()),
        )?;
        self.check_marker("users", page).await?;
        let mut w = Filters::new();
        w.eq("name", f.name.as_deref())
            .eq("domain_id", f.domain_id.as_deref())
            .eq_flag("enabled", f.enabled);
        Ok(store::list_users(self.db(), w, page).await?)
    }

    pub async fn update_user(&self, caller: &AuthContext, id: &str, input: UserInput) -> Result<User> {
        self.enforce(
            "identity:update_user",
            caller,
            &Target::new().with("target.user_id", id),
        )?;
        let before = store::get_user(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))?;
        if input.domain_id.as_deref().is_some_and(|d| d != before.domain_id) {
            return Err(IdentityError::Validation(
                "Invalid input for field 'user.domain_id': a user cannot move to another domain.".into(),
            ));
        }
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_user(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("user", id))?;
            if let Some(v) = super::merged_extras("user", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(n) = &input.name {
            sets.push(("name", Val::S(check_name("user.name", Some(n))?)));
        }
        if let Some(e) = input.enabled {
            sets.push(("enabled", Val::I(e as i64)));
        }
        if let Some(d) = input.description {
            check_len("user.description", Some(&d), 65535)?;
            sets.push(("description", Val::S(d)));
        }
        if let Some(m) = input.email {
            check_len("user.email", Some(&m), 255)?;
            sets.push(("email", Val::S(m)));
        }
        if let Some(p) = input.default_project_id {
            if store::get_project(self.db(), &p).await?.is_none() {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'user.default_project_id': project {p} does not exist."
                )));
            }
            sets.push(("default_project_id", Val::S(p)));
        }
        let options = match &input.options {
            Some(changes) => merged_options(&before.options, changes)?,
            None => before.options.clone(),
        };
        let new_password = match &input.password {
            Some(pw) => {
                check_password("user.password", pw)?;
                self.check_password_rules(pw)?;
                Some(self.hash_secret(pw).await?)
            }
            None => None,
        };
        store::update(self.db(), "users", id, sets)
            .await
            .map_err(on_conflict(|| duplicate_user(input.name.as_deref().unwrap_or(""))))?;
        if input.options.is_some() {
            store::set_user_options(self.db(), id, &options).await?;
        }
        // An administrator's reset is not held to the history or the minimum age (Keystone
        // checks those only when users change their own), but may expire at once.
        if let Some(h) = &new_password {
            let expires = self.expiry_of_set_password(&options, true);
            store::set_password(self.db(), id, h, expires, self.history_kept()).await?;
        }
        if new_password.is_some() || (before.enabled && input.enabled == Some(false)) {
            self.revoke_matching(Some(id), None, None, None).await?;
        }
        self.changed();
        store::get_user(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))
    }

    pub async fn delete_user(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce(
            "identity:delete_user",
            caller,
            &Target::new().with("target.user_id", id),
        )?;
        if !store::delete_with_assignments(self.db(), "users", id, ActorKind::User.as_str(), false).await? {
            return Err(IdentityError::not_found("user", id));
        }
        // The trusts the user gave or held go with them (and the trusts redelegated from
        // those), as in Keystone.
        for trust in store::trusts_of_user(self.db(), id).await? {
            for gone in store::delete_trust_tree(self.db(), &trust).await? {
                self.revoke_trust(&gone).await?;
            }
        }
        self.revoke_matching(Some(id), None, None, None).await?;
        self.changed();
        Ok(())
    }

    /// A user changes their own password, proving the current one (`POST /v3/users/{id}/password`).
    /// A user changing their own password: the original password is the proof, so no token
    /// and no policy decide it (as Keystone, which leaves this call unenforced).
    pub async fn change_password(&self, id: &str, original: &str, new: &str) -> Result<()> {
        check_password("user.password", new)?;
        let user = store::get_user(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))?;
        let creds = store::get_credentials(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", id))?;
        // The original password is the proof; an expired one still proves who it is.
        let ok = match &creds.password_hash {
            Some(h) => self.verify_secret(original, h).await?,
            None => false,
        };
        if !ok {
            return Err(IdentityError::Unauthenticated(
                "The original password is not correct.".into(),
            ));
        }
        if option_on(&user.options, "lock_password") {
            return Err(IdentityError::Denied(format!(
                "The password of user {id} is locked: only an administrator may change it."
            )));
        }
        let min_age = self.inner_cfg().minimum_password_age_days as i64 * 86_400 * 1_000_000;
        if min_age > 0 && creds.password_set_at.is_some_and(|at| stratus_store::now_micros() < at + min_age) {
            return Err(IdentityError::Validation(format!(
                "Cannot change password before minimum age {} days is reached.",
                self.inner_cfg().minimum_password_age_days
            )));
        }
        self.check_password_rules(new)?;
        let count = self.inner_cfg().unique_last_password_count as i64;
        if count > 1 {
            for old in store::recent_password_hashes(self.db(), id, count).await? {
                if self.verify_secret(new, &old).await? {
                    return Err(IdentityError::Validation(format!(
                        "The new password cannot be identical to a previous password. The total number which includes the new password must be unique is {count}."
                    )));
                }
            }
        }
        let hash = self.hash_secret(new).await?;
        let expires = self.expiry_of_set_password(&user.options, false);
        store::set_password(self.db(), id, &hash, expires, self.history_kept()).await?;
        self.revoke_matching(Some(id), None, None, None).await?;
        self.changed();
        Ok(())
    }

    /// A new password must match the configured pattern (Keystone's `password_regex`).
    fn check_password_rules(&self, pw: &str) -> Result<()> {
        if let Some((re, description)) = &self.inner_cfg().password_regex {
            // A pattern too costly to run on this password counts as not matching.
            if !re.is_match(pw).unwrap_or(false) {
                return Err(IdentityError::Validation(format!(
                    "Password validation error: The password does not meet the requirements: {description}"
                )));
            }
        }
        Ok(())
    }

    /// When a password set now expires: at once when an administrator set it and users must
    /// change such passwords on first use, after `password_expires_days` otherwise, never for
    /// users exempted by their options.
    fn expiry_of_set_password(&self, options: &Map<String, Value>, by_admin: bool) -> Option<i64> {
        let cfg = self.inner_cfg();
        let now = stratus_store::now_micros();
        if by_admin && cfg.change_password_upon_first_use && !option_on(options, "ignore_change_password_upon_first_use") {
            return Some(now);
        }
        match cfg.password_expires_days {
            Some(days) if !option_on(options, "ignore_password_expiry") => Some(now + days as i64 * 86_400 * 1_000_000),
            _ => None,
        }
    }

    /// How many passwords a user's history keeps.
    fn history_kept(&self) -> i64 {
        self.inner_cfg().unique_last_password_count.max(1) as i64
    }

    // ------------------------------------------------------------ groups

    pub async fn create_group(&self, caller: &AuthContext, input: GroupInput) -> Result<Group> {
        self.enforce("identity:create_group", caller, &Target::new())?;
        let name = check_name("group.name", input.name.as_deref())?;
        check_len("group.description", input.description.as_deref(), 65535)?;
        let domain_id = input
            .domain_id
            .unwrap_or_else(|| caller.domain_id().unwrap_or(&caller.user_domain_id).to_owned());
        if store::get_domain(self.db(), &domain_id).await?.is_none() {
            return Err(IdentityError::not_found("domain", &domain_id));
        }
        let g = Group {
            id: new_id(),
            name,
            domain_id,
            description: input.description.unwrap_or_default(),
            extra: super::new_extras(input.extra),
        };
        store::insert_group(self.db(), &g).await.map_err(on_conflict(|| {
            format!("Duplicate entry: a group named '{}' exists in the domain.", g.name)
        }))?;
        self.changed();
        Ok(g)
    }

    pub async fn get_group(&self, caller: &AuthContext, id: &str) -> Result<Group> {
        self.enforce("identity:get_group", caller, &Target::new().with("target.group.id", id))?;
        store::get_group(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("group", id))
    }

    pub async fn list_groups(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Group>> {
        self.enforce("identity:list_groups", caller, &Target::new())?;
        self.check_marker("user_groups", page).await?;
        let mut w = Filters::new();
        w.eq("name", f.name.as_deref()).eq("domain_id", f.domain_id.as_deref());
        Ok(store::list_groups(self.db(), w, page).await?)
    }

    pub async fn update_group(&self, caller: &AuthContext, id: &str, input: GroupInput) -> Result<Group> {
        self.enforce(
            "identity:update_group",
            caller,
            &Target::new().with("target.group.id", id),
        )?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_group(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("group", id))?;
            if let Some(v) = super::merged_extras("group", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(n) = &input.name {
            sets.push(("name", Val::S(check_name("group.name", Some(n))?)));
        }
        if let Some(d) = input.description {
            check_len("group.description", Some(&d), 65535)?;
            sets.push(("description", Val::S(d)));
        }
        if !store::update(self.db(), "user_groups", id, sets)
            .await
            .map_err(on_conflict(|| "Duplicate entry: a group with that name exists.".into()))?
        {
            return Err(IdentityError::not_found("group", id));
        }
        self.changed();
        store::get_group(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("group", id))
    }

    pub async fn delete_group(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce(
            "identity:delete_group",
            caller,
            &Target::new().with("target.group.id", id),
        )?;
        let members = store::group_members(self.db(), id).await?;
        if !store::delete_with_assignments(self.db(), "user_groups", id, ActorKind::Group.as_str(), false).await? {
            return Err(IdentityError::not_found("group", id));
        }
        for m in members {
            self.revoke_matching(Some(&m.id), None, None, None).await?;
        }
        self.changed();
        Ok(())
    }

    async fn group_and_user(&self, group_id: &str, user_id: &str) -> Result<()> {
        store::get_group(self.db(), group_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("group", group_id))?;
        store::get_user(self.db(), user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", user_id))?;
        Ok(())
    }

    pub async fn add_user_to_group(&self, caller: &AuthContext, group_id: &str, user_id: &str) -> Result<()> {
        self.enforce("identity:add_user_to_group", caller, &Target::new())?;
        self.group_and_user(group_id, user_id).await?;
        store::add_member(self.db(), group_id, user_id).await?;
        self.changed();
        Ok(())
    }

    pub async fn remove_user_from_group(&self, caller: &AuthContext, group_id: &str, user_id: &str) -> Result<()> {
        self.enforce("identity:remove_user_from_group", caller, &Target::new())?;
        self.group_and_user(group_id, user_id).await?;
        if !store::remove_member(self.db(), group_id, user_id).await? {
            return Err(IdentityError::not_found(
                "membership",
                format!("user {user_id} in group {group_id}"),
            ));
        }
        self.revoke_matching(Some(user_id), None, None, None).await?;
        self.changed();
        Ok(())
    }

    pub async fn check_user_in_group(&self, caller: &AuthContext, group_id: &str, user_id: &str) -> Result<()> {
        self.enforce("identity:check_user_in_group", caller, &Target::new())?;
        self.group_and_user(group_id, user_id).await?;
        if store::is_member(self.db(), group_id, user_id).await? {
            Ok(())
        } else {
            Err(IdentityError::not_found(
                "membership",
                format!("user {user_id} in group {group_id}"),
            ))
        }
    }

    pub async fn group_users(&self, caller: &AuthContext, group_id: &str) -> Result<Vec<User>> {
        self.enforce("identity:list_users_in_group", caller, &Target::new())?;
        store::get_group(self.db(), group_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("group", group_id))?;
        Ok(store::group_members(self.db(), group_id).await?)
    }

    pub async fn user_groups(&self, caller: &AuthContext, user_id: &str) -> Result<Vec<Group>> {
        self.enforce(
            "identity:list_groups_for_user",
            caller,
            &Target::new().with("target.user_id", user_id),
        )?;
        store::get_user(self.db(), user_id)
            .await?
            .ok_or_else(|| IdentityError::not_found("user", user_id))?;
        Ok(store::user_groups(self.db(), user_id).await?)
    }
}
