//! Image records: create, show, list, change, delete, tags and (de)activation.

use serde_json::{Map, Value};
use stratus_api::AuthContext;
use stratus_store::now_micros;

use crate::attrs::{self, Change};
use crate::db::{self, ImageQuery, Viewer};
use crate::error::{ImageError, Result};
use crate::model::{Image, Status, Usage, Visibility};
use crate::stores::ImageStore;
use crate::{is_admin, target, ImageService};

impl ImageService {
    /// Creates a queued image from the attributes of `POST /v2/images`.
    pub async fn create_image(&self, caller: &AuthContext, body: Map<String, Value>) -> Result<Image> {
        let now = now_micros();
        let mut image = Image::queued(
            uuid::Uuid::new_v4().to_string(),
            caller.project_id().map(str::to_owned),
            now,
        );
        for (key, value) in &body {
            match key.as_str() {
                "id" => match value.as_str() {
                    Some(id) if attrs::is_uuid(id) => image.id = id.to_lowercase(),
                    _ => {
                        return Err(ImageError::Validation(
                            "Invalid value for attribute 'id': expected a UUID.".into(),
                        ))
                    }
                },
                // Glance ignores a null kernel or ramdisk on create.
                "kernel_id" | "ramdisk_id" if value.is_null() => {}
                _ => attrs::set(&mut image, key, value, self.config())?,
            }
        }
        attrs::check_formats(&image)?;
        if image.owner.as_deref() != caller.project_id() && !is_admin(caller) {
            return Err(ImageError::Denied(format!(
                "You are not permitted to create images owned by '{}'.",
                image.owner.as_deref().unwrap_or("")
            )));
        }
        self.enforce("add_image", caller, &target(&image))?;
        self.check_visibility_change(caller, &image, Visibility::Shared)?;
        if let (Some(owner), Some(limit)) = (&image.owner, self.config().quota_images) {
            let (count, _) = db::usage(self.db(), owner).await?;
            if count as u64 >= limit {
                return Err(ImageError::OverLimit(format!(
                    "Quota exceeded: project {owner} may hold {limit} images and holds {count}."
                )));
            }
        }
        db::insert_image(self.db(), &image).await.map_err(|e| match e {
            stratus_store::StoreError::Conflict(_) => {
                ImageError::Conflict(format!("An image with ID {} already exists.", image.id))
            }
            e => e.into(),
        })?;
        tracing::info!(image = %image.id, owner = ?image.owner, "image created");
        Ok(image)
    }

    fn check_visibility_change(&self, caller: &AuthContext, image: &Image, before: Visibility) -> Result<()> {
        if image.visibility == before {
            return Ok(());
        }
        match image.visibility {
            Visibility::Public => self.enforce("publicize_image", caller, &target(image)),
            Visibility::Community => self.enforce("communitize_image", caller, &target(image)),
            Visibility::Private | Visibility::Shared => Ok(()),
        }
    }

    /// Whether `caller` may see `image` at all: its own, public and community images, and
    /// shared ones its project is a member of.
    pub(crate) async fn can_see(&self, caller: &AuthContext, image: &Image) -> Result<bool> {
        if is_admin(caller) || matches!(image.visibility, Visibility::Public | Visibility::Community) {
            return Ok(true);
        }
        let Some(project) = caller.project_id() else {
            return Ok(false);
        };
        if image.owner.as_deref() == Some(project) {
            return Ok(true);
        }
        Ok(image.visibility == Visibility::Shared && db::get_member(self.db(), &image.id, project).await?.is_some())
    }

    /// The image, if it exists and `caller` can see it; an image it cannot see is not found,
    /// so that ids of private images do not leak.
    pub(crate) async fn visible(&self, caller: &AuthContext, id: &str) -> Result<Image> {
        match db::get_image(self.db(), id).await? {
            Some(i) if self.can_see(caller, &i).await? => Ok(i),
            _ => Err(ImageError::NotFound(id.to_owned())),
        }
    }

    pub async fn get_image(&self, caller: &AuthContext, id: &str) -> Result<Image> {
        let image = self.visible(caller, id).await?;
        self.enforce("get_image", caller, &target(&image))?;
        Ok(image)
    }

    /// One page of images, `limit + 1` long when there is a next page.
    pub async fn list_images(&self, caller: &AuthContext, q: &ImageQuery, marker: Option<&str>) -> Result<Vec<Image>> {
        self.enforce(
            "get_images",
            caller,
            &stratus_api::Target::new().opt("owner", caller.project_id()),
        )?;
        let marker = match marker {
            Some(m) => match db::get_image(self.db(), m).await? {
                Some(i) if self.can_see(caller, &i).await? => Some(i),
                _ => {
                    return Err(ImageError::Validation(format!(
                        "Invalid marker. Image {m} could not be found."
                    )))
                }
            },
            None => None,
        };
        let viewer = Viewer {
            admin: is_admin(caller),
            project: caller.project_id().map(str::to_owned),
        };
        Ok(db::list_images(self.db(), &viewer, q, marker.as_ref()).await?)
    }

    /// Applies a JSON patch's changes, all or none.
    pub async fn update_image(&self, caller: &AuthContext, id: &str, changes: &[Change]) -> Result<Image> {
        // Another writer (an upload finishing, a concurrent PATCH) may change the record
        // between read and write; the write is conditional and the patch is re-applied.
        for _ in 0..5 {
            let before = self.visible(caller, id).await?;
            self.enforce("modify_image", caller, &target(&before))?;
            let mut image = before.clone();
            for c in changes {
                match c {
                    Change::Set(k, v) => attrs::set(&mut image, k, v, self.config())?,
                    Change::Remove(k) => attrs::remove(&mut image, k)?,
                }
            }
            attrs::check_formats(&image)?;
            if image.owner != before.owner && !is_admin(caller) {
                return Err(ImageError::Denied(
                    "Only an administrator may change the owner of an image.".into(),
                ));
            }
            self.check_visibility_change(caller, &image, before.visibility)?;
            if image == before {
                return Ok(image);
            }
            image.updated_at = now_micros().max(before.updated_at + 1);
            if db::update_image(self.db(), &image, before.updated_at).await? {
                return Ok(image);
            }
        }
        Err(ImageError::Conflict(format!(
            "Image {id} is being changed by another request; try again."
        )))
    }

    /// Deletes an image and its data. The record goes through `pending_delete` so that data
    /// left by a crash in the middle is removed at the next start.
    pub async fn delete_image(&self, caller: &AuthContext, id: &str) -> Result<()> {
        let image = self.visible(caller, id).await?;
        self.enforce("delete_image", caller, &target(&image))?;
        if image.protected {
            return Err(ImageError::Denied(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        let from: Vec<Status> = Status::ALL
            .into_iter()
            .filter(|s| !matches!(s, Status::PendingDelete | Status::Deleted))
            .collect();
        if !db::transition(self.db(), id, &from, Status::PendingDelete).await? {
            return Err(ImageError::NotFound(id.to_owned()));
        }
        // A protect racing the delete: the flag was read before the transition.
        if db::get_image(self.db(), id).await?.is_some_and(|i| i.protected) {
            db::transition(self.db(), id, &[Status::PendingDelete], image.status).await?;
            return Err(ImageError::Denied(format!(
                "Image {id} is protected and cannot be deleted."
            )));
        }
        self.purge(id, image.location.as_deref()).await?;
        tracing::info!(image = %id, "image deleted");
        Ok(())
    }

    /// Removes the data of a `pending_delete` image, then its record.
    pub(crate) async fn purge(&self, id: &str, location: Option<&str>) -> Result<()> {
        if let Some(loc) = location {
            self.inner
                .store
                .delete(loc)
                .await
                .map_err(|e| ImageError::internal("deleting image data", e))?;
        }
        self.inner
            .staging
            .delete(id)
            .await
            .map_err(|e| ImageError::internal("deleting staged data", e))?;
        db::mark_deleted(self.db(), id).await?;
        Ok(())
    }

    pub async fn add_tag(&self, caller: &AuthContext, id: &str, tag: &str) -> Result<()> {
        let image = self.visible(caller, id).await?;
        self.enforce("modify_image", caller, &target(&image))?;
        if tag.is_empty() || tag.chars().count() > 255 {
            return Err(ImageError::Validation(
                "Invalid tag: tags are 1 to 255 characters.".into(),
            ));
        }
        if !image.tags.iter().any(|t| t == tag) && image.tags.len() >= self.config().max_tags {
            return Err(ImageError::OverLimit(format!(
                "An image may have at most {} tags.",
                self.config().max_tags
            )));
        }
        db::add_tag(self.db(), id, tag).await?;
        Ok(())
    }

    pub async fn remove_tag(&self, caller: &AuthContext, id: &str, tag: &str) -> Result<()> {
        let image = self.visible(caller, id).await?;
        self.enforce("modify_image", caller, &target(&image))?;
        if !db::remove_tag(self.db(), id, tag).await? {
            return Err(ImageError::NotFoundOther(format!("Tag {tag} not found on image {id}.")));
        }
        Ok(())
    }

    /// Deactivates (`activate == false`) or reactivates an image.
    pub async fn set_active(&self, caller: &AuthContext, id: &str, activate: bool) -> Result<()> {
        let image = self.visible(caller, id).await?;
        let (action, from, to) = if activate {
            ("reactivate", Status::Deactivated, Status::Active)
        } else {
            ("deactivate", Status::Active, Status::Deactivated)
        };
        self.enforce(action, caller, &target(&image))?;
        if image.status == to {
            return Ok(());
        }
        if !db::transition(self.db(), id, &[from], to).await? {
            return Err(ImageError::Conflict(format!(
                "Image {id} is {}; only {} images can be {action}d.",
                image.status.as_str(),
                from.as_str()
            )));
        }
        Ok(())
    }

    /// The caller's project's use of its quotas.
    pub async fn usage(&self, caller: &AuthContext) -> Result<Usage> {
        let project = caller
            .project_id()
            .ok_or_else(|| ImageError::Validation("Usage is per project: use a project-scoped token.".into()))?;
        self.enforce("get_usage", caller, &stratus_api::Target::new().with("owner", project))?;
        let (image_count, image_size_total) = db::usage(self.db(), project).await?;
        let (image_count_uploading, _) = db::tally(
            self.db(),
            project,
            &[Status::Saving, Status::Uploading, Status::Importing],
        )
        .await?;
        let (_, image_stage_total) = db::tally(self.db(), project, &[Status::Uploading, Status::Importing]).await?;
        Ok(Usage {
            image_count,
            image_count_limit: self.config().quota_images,
            image_size_total,
            image_size_limit: self.config().quota_bytes,
            image_stage_total,
            image_count_uploading,
        })
    }
}
