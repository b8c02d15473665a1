//! Sharing an image with other projects: the owner invites a project, the project accepts
//! or rejects, and only accepted images appear in its default list.

use stratus_api::{AuthContext, Target};
use stratus_store::now_micros;

use crate::db;
use crate::error::{ImageError, Result};
use crate::model::{Image, Member, MemberStatus, Visibility};
use crate::{is_admin, ImageService};

fn member_target(image: &Image, member: &str) -> Target {
    crate::target(image).with("member_id", member)
}

impl ImageService {
    pub async fn add_member(&self, caller: &AuthContext, image_id: &str, member: &str) -> Result<Member> {
        let image = self.visible(caller, image_id).await?;
        self.enforce("add_member", caller, &member_target(&image, member))?;
        if image.visibility != Visibility::Shared {
            return Err(ImageError::Denied(format!(
                "Image {image_id} is {}; only shared images have members.",
                image.visibility.as_str()
            )));
        }
        if member.is_empty() || member.chars().count() > 255 {
            return Err(ImageError::Validation("Invalid member: expected a project id.".into()));
        }
        if image.owner.as_deref() == Some(member) {
            return Err(ImageError::Validation(
                "The owner of an image cannot be one of its members.".into(),
            ));
        }
        if db::count_members(self.db(), image_id).await? as usize >= self.config().max_members {
            return Err(ImageError::OverLimit(format!(
                "An image may have at most {} members.",
                self.config().max_members
            )));
        }
        let now = now_micros();
        let m = Member {
            image_id: image_id.to_owned(),
            member_id: member.to_owned(),
            status: MemberStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        db::insert_member(self.db(), &m).await.map_err(|e| match e {
            stratus_store::StoreError::Conflict(_) => {
                ImageError::Conflict(format!("Project {member} is already a member of image {image_id}."))
            }
            e => e.into(),
        })?;
        Ok(m)
    }

    /// The owner sees every member; a member sees only itself.
    pub async fn list_members(&self, caller: &AuthContext, image_id: &str) -> Result<Vec<Member>> {
        let image = self.visible(caller, image_id).await?;
        self.enforce("get_members", caller, &crate::target(&image))?;
        if image.visibility != Visibility::Shared {
            return Err(ImageError::Denied(format!(
                "Image {image_id} is not shared; it has no members."
            )));
        }
        let mut members = db::list_members(self.db(), image_id).await?;
        if !is_admin(caller) && image.owner.as_deref() != caller.project_id() {
            members.retain(|m| Some(m.member_id.as_str()) == caller.project_id());
        }
        Ok(members)
    }

    pub async fn get_member(&self, caller: &AuthContext, image_id: &str, member: &str) -> Result<Member> {
        let image = self.visible(caller, image_id).await?;
        self.enforce("get_member", caller, &member_target(&image, member))?;
        let owner_or_admin = is_admin(caller) || image.owner.as_deref() == caller.project_id();
        match db::get_member(self.db(), image_id, member).await? {
            Some(m) if owner_or_admin || Some(member) == caller.project_id() => Ok(m),
            _ => Err(ImageError::NotFoundOther(format!(
                "Project {member} is not a member of image {image_id}."
            ))),
        }
    }

    /// The member project accepts, rejects or defers an image shared with it.
    pub async fn set_member_status(
        &self,
        caller: &AuthContext,
        image_id: &str,
        member: &str,
        status: &str,
    ) -> Result<Member> {
        let status = MemberStatus::parse(status).ok_or_else(|| {
            ImageError::Validation(format!(
                "Invalid member status '{status}': expected pending, accepted or rejected."
            ))
        })?;
        let image = self.visible(caller, image_id).await?;
        if db::get_member(self.db(), image_id, member).await?.is_none() {
            return Err(ImageError::NotFoundOther(format!(
                "Project {member} is not a member of image {image_id}."
            )));
        }
        self.enforce("modify_member", caller, &member_target(&image, member))?;
        db::set_member_status(self.db(), image_id, member, status).await?;
        self.get_member(caller, image_id, member).await
    }

    pub async fn remove_member(&self, caller: &AuthContext, image_id: &str, member: &str) -> Result<()> {
        let image = self.visible(caller, image_id).await?;
        self.enforce("delete_member", caller, &member_target(&image, member))?;
        if !db::delete_member(self.db(), image_id, member).await? {
            return Err(ImageError::NotFoundOther(format!(
                "Project {member} is not a member of image {image_id}."
            )));
        }
        Ok(())
    }
}
