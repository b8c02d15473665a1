//! Regions, services and endpoints: the catalog's contents.

use stratus_api::pagination::PageRequest;
use stratus_api::{AuthContext, Target};

use super::{check_len, ListFilter};
use crate::error::{on_conflict, IdentityError, Result};
use crate::model::{Endpoint, EndpointInput, Region, RegionInput, Service, ServiceInput};
use crate::store::{self, Filters, Val};
use crate::{new_id, IdentityService};

const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

fn check_interface(i: &str) -> Result<()> {
    if INTERFACES.contains(&i) {
        Ok(())
    } else {
        Err(IdentityError::Validation(format!(
            "Invalid input for field 'endpoint.interface': '{i}' is not one of public, internal, admin."
        )))
    }
}

fn check_url(u: &str) -> Result<()> {
    if (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "http://".len() && u.len() <= 2048 {
        Ok(())
    } else {
        Err(IdentityError::Validation(format!(
            "Invalid input for field 'endpoint.url': '{u}' is not an http(s) URL."
        )))
    }
}

impl IdentityService {
    pub async fn create_region(&self, caller: &AuthContext, input: RegionInput) -> Result<Region> {
        self.enforce("identity:create_region", caller, &Target::new())?;
        check_len("region.id", input.id.as_deref(), 255)?;
        check_len("region.description", input.description.as_deref(), 255)?;
        if let Some(p) = &input.parent_region_id {
            store::get_region(self.db(), p).await?.ok_or_else(|| {
                IdentityError::Validation(format!(
                    "Invalid input for field 'region.parent_region_id': region {p} does not exist."
                ))
            })?;
        }
        let r = Region {
            id: input.id.filter(|s| !s.is_empty()).unwrap_or_else(new_id),
            description: input.description.unwrap_or_default(),
            parent_region_id: input.parent_region_id,
            extra: super::new_extras(input.extra),
        };
        store::insert_region(self.db(), &r)
            .await
            .map_err(on_conflict(|| format!("Duplicate ID, {}.", r.id)))?;
        self.changed();
        Ok(r)
    }

    pub async fn get_region(&self, caller: &AuthContext, id: &str) -> Result<Region> {
        self.enforce("identity:get_region", caller, &Target::new())?;
        store::get_region(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("region", id))
    }

    pub async fn list_regions(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Region>> {
        self.enforce("identity:list_regions", caller, &Target::new())?;
        self.check_marker("regions", page).await?;
        let mut w = Filters::new();
        w.eq("parent_region_id", f.parent_id.as_deref());
        Ok(store::list_regions(self.db(), w, page).await?)
    }

    pub async fn update_region(&self, caller: &AuthContext, id: &str, input: RegionInput) -> Result<Region> {
        self.enforce("identity:update_region", caller, &Target::new())?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_region(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("region", id))?;
            if let Some(v) = super::merged_extras("region", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(d) = input.description {
            check_len("region.description", Some(&d), 255)?;
            sets.push(("description", Val::S(d)));
        }
        if let Some(p) = input.parent_region_id {
            if p == id || store::get_region(self.db(), &p).await?.is_none() {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'region.parent_region_id': '{p}' is not a valid parent."
                )));
            }
            sets.push(("parent_region_id", Val::S(p)));
        }
        if !store::update(self.db(), "regions", id, sets).await? {
            return Err(IdentityError::not_found("region", id));
        }
        self.changed();
        store::get_region(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("region", id))
    }

    pub async fn delete_region(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_region", caller, &Target::new())?;
        let mut f = Filters::new();
        f.eq("region_id", Some(id));
        if !store::list_endpoints(self.db(), f, &PageRequest::default())
            .await?
            .is_empty()
        {
            return Err(IdentityError::Conflict(format!(
                "Region {id} still has endpoints; delete them first."
            )));
        }
        if !store::delete(self.db(), "regions", id)
            .await
            .map_err(on_conflict(|| format!("Region {id} has child regions.")))?
        {
            return Err(IdentityError::not_found("region", id));
        }
        self.changed();
        Ok(())
    }

    // ------------------------------------------------------------ services

    pub async fn create_service(&self, caller: &AuthContext, input: ServiceInput) -> Result<Service> {
        self.enforce("identity:create_service", caller, &Target::new())?;
        let service_type = super::check_name("service.type", input.service_type.as_deref())?;
        check_len("service.name", input.name.as_deref(), 255)?;
        let s = Service {
            id: new_id(),
            service_type,
            name: input.name.unwrap_or_default(),
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            extra: super::new_extras(input.extra),
        };
        store::insert_service(self.db(), &s).await?;
        self.changed();
        Ok(s)
    }

    pub async fn get_service(&self, caller: &AuthContext, id: &str) -> Result<Service> {
        self.enforce("identity:get_service", caller, &Target::new())?;
        store::get_service(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("service", id))
    }

    pub async fn list_services(&self, caller: &AuthContext, f: ListFilter, page: &PageRequest) -> Result<Vec<Service>> {
        self.enforce("identity:list_services", caller, &Target::new())?;
        self.check_marker("services", page).await?;
        let mut w = Filters::new();
        w.eq("type", f.service_type.as_deref()).eq("name", f.name.as_deref());
        Ok(store::list_services(self.db(), w, page).await?)
    }

    pub async fn update_service(&self, caller: &AuthContext, id: &str, input: ServiceInput) -> Result<Service> {
        self.enforce("identity:update_service", caller, &Target::new())?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_service(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("service", id))?;
            if let Some(v) = super::merged_extras("service", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(t) = &input.service_type {
            sets.push(("type", Val::S(super::check_name("service.type", Some(t))?)));
        }
        if let Some(n) = input.name {
            check_len("service.name", Some(&n), 255)?;
            sets.push(("name", Val::S(n)));
        }
        if let Some(d) = input.description {
            sets.push(("description", Val::S(d)));
        }
        if let Some(e) = input.enabled {
            sets.push(("enabled", Val::I(e as i64)));
        }
        if !store::update(self.db(), "services", id, sets).await? {
            return Err(IdentityError::not_found("service", id));
        }
        self.changed();
        store::get_service(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("service", id))
    }

    pub async fn delete_service(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_service", caller, &Target::new())?;
        if !store::delete(self.db(), "services", id).await? {
            return Err(IdentityError::not_found("service", id));
        }
        self.changed();
        Ok(())
    }

    // ------------------------------------------------------------ endpoints

    /// The region an endpoint names: a `region_id` must exist; the older `region` field names
    /// a region that is made when missing, as Keystone does for clients of the v2 days.
    async fn endpoint_region(&self, region_id: Option<String>, region: Option<String>) -> Result<Option<String>> {
        match (region_id, region) {
            (Some(r), _) => {
                if store::get_region(self.db(), &r).await?.is_none() {
                    return Err(IdentityError::Validation(format!(
                        "Invalid input for field 'endpoint.region_id': region {r} does not exist."
                    )));
                }
                Ok(Some(r))
            }
            (None, Some(r)) => {
                check_len("endpoint.region", Some(&r), 255)?;
                if store::get_region(self.db(), &r).await?.is_none() {
                    let made = Region {
                        id: r.clone(),
                        description: String::new(),
                        parent_region_id: None,
                        extra: Default::default(),
                    };
                    // A concurrent request may make it first; either way it exists now.
                    let _ = store::insert_region(self.db(), &made).await;
                }
                Ok(Some(r))
            }
            (None, None) => Ok(None),
        }
    }

    pub async fn create_endpoint(&self, caller: &AuthContext, input: EndpointInput) -> Result<Endpoint> {
        self.enforce("identity:create_endpoint", caller, &Target::new())?;
        let service_id = input.service_id.ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'endpoint.service_id': the field is required.".into())
        })?;
        let interface = input.interface.ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'endpoint.interface': the field is required.".into())
        })?;
        let url = input.url.ok_or_else(|| {
            IdentityError::Validation("Invalid input for field 'endpoint.url': the field is required.".into())
        })?;
        check_interface(&interface)?;
        check_url(&url)?;
        if store::get_service(self.db(), &service_id).await?.is_none() {
            return Err(IdentityError::Validation(format!(
                "Invalid input for field 'endpoint.service_id': service {service_id} does not exist."
            )));
        }
        let region_id = self.endpoint_region(input.region_id, input.region).await?;
        let e = Endpoint {
            id: new_id(),
            service_id,
            interface,
            region_id,
            url,
            enabled: input.enabled.unwrap_or(true),
            extra: super::new_extras(input.extra),
        };
        store::insert_endpoint(self.db(), &e).await?;
        self.changed();
        Ok(e)
    }

    pub async fn get_endpoint(&self, caller: &AuthContext, id: &str) -> Result<Endpoint> {
        self.enforce("identity:get_endpoint", caller, &Target::new())?;
        store::get_endpoint(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("endpoint", id))
    }

    pub async fn list_endpoints(
        &self,
        caller: &AuthContext,
        f: ListFilter,
        page: &PageRequest,
    ) -> Result<Vec<Endpoint>> {
        self.enforce("identity:list_endpoints", caller, &Target::new())?;
        self.check_marker("endpoints", page).await?;
        let mut w = Filters::new();
        w.eq("interface", f.interface.as_deref())
            .eq("service_id", f.service_id.as_deref())
            .eq("region_id", f.region_id.as_deref());
        Ok(store::list_endpoints(self.db(), w, page).await?)
    }

    pub async fn update_endpoint(&self, caller: &AuthContext, id: &str, input: EndpointInput) -> Result<Endpoint> {
        self.enforce("identity:update_endpoint", caller, &Target::new())?;
        let mut sets = vec![];
        if !input.extra.is_empty() {
            let stored = store::get_endpoint(self.db(), id)
                .await?
                .ok_or_else(|| IdentityError::not_found("endpoint", id))?;
            if let Some(v) = super::merged_extras("endpoint", id, &stored.extra, input.extra.clone())? {
                sets.push(("extra", v));
            }
        }
        if let Some(i) = input.interface {
            check_interface(&i)?;
            sets.push(("interface", Val::S(i)));
        }
        if let Some(u) = input.url {
            check_url(&u)?;
            sets.push(("url", Val::S(u)));
        }
        if let Some(s) = input.service_id {
            if store::get_service(self.db(), &s).await?.is_none() {
                return Err(IdentityError::Validation(format!(
                    "Invalid input for field 'endpoint.service_id': service {s} does not exist."
                )));
            }
            sets.push(("service_id", Val::S(s)));
        }
        if let Some(r) = self.endpoint_region(input.region_id, input.region).await? {
            sets.push(("region_id", Val::S(r)));
        }
        if let Some(e) = input.enabled {
            sets.push(("enabled", Val::I(e as i64)));
        }
        if !store::update(self.db(), "endpoints", id, sets).await? {
            return Err(IdentityError::not_found("endpoint", id));
        }
        self.changed();
        store::get_endpoint(self.db(), id)
            .await?
            .ok_or_else(|| IdentityError::not_found("endpoint", id))
    }

    pub async fn delete_endpoint(&self, caller: &AuthContext, id: &str) -> Result<()> {
        self.enforce("identity:delete_endpoint", caller, &Target::new())?;
        if !store::delete(self.db(), "endpoints", id).await? {
            return Err(IdentityError::not_found("endpoint", id));
        }
        self.changed();
        Ok(())
    }
}
