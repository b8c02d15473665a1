//! The service providers of advanced services (`GET /service-providers`, Neutron's
//! `service-type` extension): what the operator configured, which for Stratus, running no
//! advanced service, is nothing unless the configuration says otherwise.

use stratus_api::{AuthContext, Target};

use crate::error::{NetworkError, Result};
use crate::model::ServiceProvider;
use crate::networks::{flag, Filter};
use crate::NetworkService;

impl NetworkService {
    /// The configured providers that pass `filter` (`service_type`, `name`, `default`).
    pub fn list_service_providers(&self, caller: &AuthContext, filter: &Filter) -> Result<Vec<ServiceProvider>> {
        self.enforce(
            "get_service_provider",
            caller,
            &Target::new().opt("project_id", caller.project_id()),
        )?;
        let (mut service_type, mut name, mut default) = (None, None, None);
        for (k, v) in filter {
            match k.as_str() {
                "service_type" => service_type = Some(v.as_str()),
                "name" => name = Some(v.as_str()),
                "default" => default = Some(flag(k, v)?),
                _ => {
                    return Err(NetworkError::invalid(format!(
                        "{k} is not a valid filter attribute of service providers"
                    )))
                }
            }
        }
        Ok(self
            .config()
            .service_providers
            .iter()
            .filter(|p| {
                service_type.is_none_or(|t| p.service_type == t)
                    && name.is_none_or(|n| p.name == n)
                    && default.is_none_or(|d| p.default == d)
            })
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stratus_api::policy::Policy;
    use stratus_api::testing::caller;
    use stratus_store::testing::TestLocation;
    use stratus_store::Backend;

    use crate::model::ServiceProvider;
    use crate::{FakeDataplane, NetworkConfig, NetworkService};

    #[tokio::test]
    async fn providers_are_the_configured_ones() {
        let loc = TestLocation::new(Backend::Sqlite).await;
        let policy = Policy::load(crate::DEFAULT_POLICY, None).expect("policy");
        let lb = ServiceProvider {
            service_type: "LOADBALANCERV2".into(),
            name: "octavia".into(),
            default: true,
        };
        let mut cfg = NetworkConfig::default();
        let alice = caller("p-alice", &["member", "reader"]);
        let svc = NetworkService::open(
            &loc.location,
            cfg.clone(),
            policy.clone(),
            Arc::new(FakeDataplane::new()),
        )
        .await
        .expect("open");
        assert!(svc.list_service_providers(&alice, &vec![]).expect("list").is_empty());
        svc.close().await;
        cfg.service_providers = vec![lb.clone()];
        let svc = NetworkService::open(&loc.location, cfg, policy, Arc::new(FakeDataplane::new()))
            .await
            .expect("open");
        let f = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(
            svc.list_service_providers(&alice, &vec![]).expect("list"),
            vec![lb.clone()]
        );
        assert_eq!(
            svc.list_service_providers(&alice, &f("name", "octavia")).expect("list"),
            vec![lb]
        );
        assert!(svc
            .list_service_providers(&alice, &f("default", "false"))
            .expect("list")
            .is_empty());
        assert!(svc.list_service_providers(&alice, &f("default", "perhaps")).is_err());
        assert!(svc.list_service_providers(&alice, &f("colour", "red")).is_err());
        let nobody = caller("p-alice", &[]);
        assert!(svc.list_service_providers(&nobody, &vec![]).is_err(), "readers only");
        svc.close().await;
        loc.cleanup().await;
    }
}
