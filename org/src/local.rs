//! A local organization: one local KMS serving every member account and Region, one member
//! function per account x Region, the router wired like `templates/central.yaml` (central bus
//! that admits audit records only forwarded by a member's rule, one fan-out rule per member bus,
//! the audit log group) and `template.yaml` as the StackSet deploys it (the member's incident
//! bus, its policy and rules: requests to the function, audit records to the central bus; the
//! function's asynchronous invocation configuration, its dead-letter queues).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use kms_sim::{ImportOptions, KeyInfo, KeySpec, KeyUsage, KmsKeySpec, KmsSim, SimConfig};
use serde_json::{Value, json};

use crate::aws::{BusArn, MemberId, queue_arn};
use crate::member::{Member, MemberSpec};
use crate::pattern::Pattern;
use crate::report::{
    self, AUDIT_DETAIL_TYPE, Input, Inventory, InventoryMember, Phase, REQUEST_DETAIL_TYPE, Report,
    ReportOptions, SUMMARY_DETAIL_TYPE,
};
use crate::router::{
    AsyncInvokeConfig, BusPolicy, Function, Router, RouterConfig, RouterError, Rule, Target,
};
use crate::sdk::local_sdk_config;

/// The security account.
pub const CENTRAL_ACCOUNT: &str = "999999999999";
/// Its Region.
pub const CENTRAL_REGION: &str = "us-east-1";
/// `CentralEventBusName` (templates/central.yaml default).
pub const CENTRAL_BUS_NAME: &str = "kms-material-guard-central";
/// `IncidentBusName` (template.yaml default): each member's incident bus.
pub const MEMBER_BUS_NAME: &str = "kms-material-guard";
/// The access key id of the responder in the central account.
pub const RESPONDER_ACCESS_KEY: &str = "AKIDRESPONDER999";
/// The source of revocation requests (`IncidentSource`, members' `AllowedSources`).
pub const INCIDENT_SOURCE: &str = "incident-response";
/// The source of what members publish.
pub const GUARD_SOURCE: &str = "kms-material-guard";
/// The scope tag the member template uses by default.
pub const SCOPE_TAG: (&str, &str) = ("kms-material-guard:revocable", "true");
/// The tag selector of the compromised supplier in the demo and the tests.
pub const COMPROMISED: (&str, &str) = ("supplier", "acme-hsm");

/// The parent OU of every member account, and the two child OUs.
pub const OU_WORKLOADS: &str = "ou-a1b2-workload";
pub const OU_PROD: &str = "ou-a1b2-prodapps";
pub const OU_DEV: &str = "ou-a1b2-devapps1";

/// What to start.
#[derive(Debug, Clone)]
pub struct OrgSpec {
    pub members: Vec<MemberSpec>,
    /// The local KMS (quotas, faults); accounts are added from the members.
    pub sim: SimConfig,
    pub router: RouterConfig,
}

impl OrgSpec {
    /// 3 accounts x 2 Regions: 111111111111 and 222222222222 in the prod OU, 333333333333 in
    /// the dev OU, all under the workloads OU; us-east-1 and eu-west-1. Real AWS quotas.
    pub fn three_by_two() -> Self {
        let accounts = [
            ("111111111111", OU_PROD),
            ("222222222222", OU_PROD),
            ("333333333333", OU_DEV),
        ];
        let mut members = Vec::new();
        for (account, ou) in accounts {
            for region in ["us-east-1", "eu-west-1"] {
                members.push(MemberSpec {
                    id: MemberId::new(account, region),
                    organizational_units: vec![ou.to_string(), OU_WORKLOADS.to_string()],
                    access_key_id: format!("AKIDMEMBER{account}"),
                    env: Vec::new(),
                    timeout: crate::member::FUNCTION_TIMEOUT,
                });
            }
        }
        OrgSpec {
            members,
            sim: SimConfig::default(),
            router: RouterConfig::default(),
        }
    }

    /// Sets the timeout of every member function.
    pub fn member_timeout(mut self, timeout: Duration) -> Self {
        for m in &mut self.members {
            m.timeout = timeout;
        }
        self
    }

    /// Sets an environment variable of every member function.
    pub fn member_env(mut self, key: &str, value: &str) -> Self {
        for m in &mut self.members {
            m.env.retain(|(k, _)| k != key);
            m.env.push((key.to_string(), value.to_string()));
        }
        self
    }
}

/// The keys seeded in one member.
#[derive(Debug, Clone, Default)]
pub struct MemberEstate {
    /// EXTERNAL, in scope, tagged with the compromised supplier: revoked by the request.
    pub compromised: Vec<KeyInfo>,
    /// EXTERNAL, tagged with the compromised supplier but without the scope tag: refused.
    pub out_of_scope: Vec<KeyInfo>,
    /// EXTERNAL, in scope, another supplier: never selected.
    pub untouched: Vec<KeyInfo>,
}

/// A running local organization.
pub struct LocalOrg {
    pub sim: Arc<KmsSim>,
    pub router: Router,
    members: BTreeMap<MemberId, Arc<Member>>,
    central_bus: BusArn,
    responder: aws_sdk_eventbridge::Client,
}

/// Why the organization could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("local KMS: {0}")]
    Sim(#[from] std::io::Error),
    #[error(transparent)]
    Member(#[from] crate::member::DeployError),
    #[error(transparent)]
    Router(#[from] RouterError),
    #[error("pattern: {0}")]
    Pattern(#[from] crate::pattern::PatternError),
}

/// The member's spec with the continuation key the member template creates (an `HMAC_256` key
/// of its account and Region, `MATERIAL_GUARD_CONTINUATION_KEY`), unless the spec names one.
fn with_continuation_key(sim: &KmsSim, spec: &MemberSpec) -> MemberSpec {
    const VAR: &str = "MATERIAL_GUARD_CONTINUATION_KEY";
    let mut spec = spec.clone();
    if !spec.env.iter().any(|(k, _)| k == VAR) {
        let key = sim.store().create_key(
            KeySpec::aws_kms()
                .in_account(&spec.id.account)
                .in_region(&spec.id.region)
                .key_spec(KmsKeySpec::Hmac256)
                .key_usage(KeyUsage::GenerateVerifyMac)
                .description("kms-material-guard continuation key"),
        );
        spec.env.push((VAR.to_string(), key.arn));
    }
    spec
}

fn pattern(v: Value) -> Result<Pattern, crate::pattern::PatternError> {
    Pattern::parse(&v)
}

impl LocalOrg {
    /// Starts the local KMS, the router and every member, wired as the templates deploy them.
    pub async fn start(spec: OrgSpec) -> Result<LocalOrg, StartError> {
        let mut sim_config = spec
            .sim
            .clone()
            .with_account(RESPONDER_ACCESS_KEY, CENTRAL_ACCOUNT);
        for m in &spec.members {
            sim_config = sim_config.with_account(&m.access_key_id, &m.id.account);
        }
        let sim = Arc::new(KmsSim::start(sim_config).await?);
        let router = Router::new(spec.router.clone());
        {
            let sim = sim.clone();
            router.set_ingress(move || sim.events());
        }
        let central_bus = BusArn::new(CENTRAL_REGION, CENTRAL_ACCOUNT, CENTRAL_BUS_NAME);
        let member_accounts: Vec<&str> =
            spec.members.iter().map(|m| m.id.account.as_str()).collect();
        Self::deploy_central(&router, &central_bus, &member_accounts)?;
        let endpoint = sim.endpoint_url();
        let mut members = BTreeMap::new();
        for spec_m in &spec.members {
            let spec_m = &with_continuation_key(&sim, spec_m);
            let member = Self::deploy_member(&router, spec_m, &central_bus, &endpoint).await?;
            members.insert(spec_m.id.clone(), member);
        }
        let sdk = local_sdk_config(CENTRAL_REGION, &endpoint, RESPONDER_ACCESS_KEY).await;
        Ok(LocalOrg {
            sim,
            router,
            members,
            central_bus,
            responder: aws_sdk_eventbridge::Client::new(&sdk),
        })
    }

    /// The central stack: the central bus (members' audit records and summaries only, and only
    /// forwarded by a member's rule; nobody puts them there directly), its dead-letter queue,
    /// the audit log group and its rule.
    fn deploy_central(
        router: &Router,
        central_bus: &BusArn,
        member_accounts: &[&str],
    ) -> Result<(), StartError> {
        router.add_bus(
            central_bus,
            BusPolicy::own_account()
                .grant_forwarded(
                    member_accounts,
                    Some(&[GUARD_SOURCE]),
                    Some(&[AUDIT_DETAIL_TYPE, SUMMARY_DETAIL_TYPE]),
                )
                .deny_direct(&[GUARD_SOURCE]),
        )?;
        let central_dlq = Self::central_dlq_arn();
        router.add_queue(&central_dlq);
        let log_group = Self::audit_log_group_arn();
        router.add_log_group(&log_group);
        router.put_rule(
            Rule::new(
                "AuditToLogGroupRule",
                central_bus,
                pattern(json!({"source": [GUARD_SOURCE],
                               "detail-type": [AUDIT_DETAIL_TYPE, SUMMARY_DETAIL_TYPE]}))?,
            )
            .target(
                Target::new("audit-log-group", &log_group)
                    .with_retry(185, Duration::from_secs(86_400))
                    .with_dead_letter_queue(&central_dlq),
            ),
        )?;
        Ok(())
    }

    /// One stack instance: the member's incident bus and its policy, the function with its
    /// asynchronous invocation configuration, its `IncidentRequest` and `AuditToCentralRule`
    /// rules; and the central fan-out rule to that bus.
    async fn deploy_member(
        router: &Router,
        spec: &MemberSpec,
        central_bus: &BusArn,
        endpoint: &str,
    ) -> Result<Arc<Member>, StartError> {
        let id = &spec.id;
        let member_bus = BusArn::new(&id.region, &id.account, MEMBER_BUS_NAME);
        // IncidentEventBus: the central account (its fan-out role), requests only.
        router.add_bus(
            &member_bus,
            BusPolicy::own_account().grant(
                &[CENTRAL_ACCOUNT],
                Some(&[INCIDENT_SOURCE]),
                Some(&[REQUEST_DETAIL_TYPE]),
            ),
        )?;
        let member = Arc::new(
            Member::deploy(
                spec,
                CENTRAL_ACCOUNT,
                MEMBER_BUS_NAME,
                endpoint,
                router.downgrade(),
            )
            .await?,
        );
        let function: Arc<dyn Function> = member.clone();
        router.add_function(
            function,
            AsyncInvokeConfig {
                maximum_retry_attempts: 2,
                maximum_event_age: Duration::from_secs(21_600),
                on_failure: Some(queue_arn(id, "kms-material-guard-invoke-failures")),
            },
        )?;
        Self::route_to_member(router, id, &member_bus, &member.arn_string(), central_bus)?;
        Ok(member)
    }

    /// The member's `IncidentRequest` rule (its bus -> its function), its `AuditToCentralRule`
    /// (its audit records and summaries -> the central bus, which then carry the member's
    /// account and Region as EventBridge set them) and the central fan-out rule (the central bus
    /// -> its bus).
    fn route_to_member(
        router: &Router,
        id: &MemberId,
        member_bus: &BusArn,
        function_arn: &str,
        central_bus: &BusArn,
    ) -> Result<(), StartError> {
        router.put_rule(
            Rule::new(
                "IncidentRequest",
                member_bus,
                pattern(json!({"detail-type": [REQUEST_DETAIL_TYPE],
                               "source": [INCIDENT_SOURCE],
                               "account": [id.account, CENTRAL_ACCOUNT]}))?,
            )
            .target(
                Target::new("MaterialGuardFunction", function_arn)
                    .with_retry(8, Duration::from_secs(3600))
                    .with_dead_letter_queue(&queue_arn(id, "kms-material-guard-rule-dlq")),
            ),
        )?;
        router.put_rule(
            Rule::new(
                "kms-material-guard-audit-to-central",
                member_bus,
                pattern(json!({"source": [GUARD_SOURCE],
                               "detail-type": [AUDIT_DETAIL_TYPE, SUMMARY_DETAIL_TYPE],
                               "account": [id.account]}))?,
            )
            .target(
                Target::new("central-bus", &central_bus.to_string())
                    .with_retry(185, Duration::from_secs(86_400))
                    .with_dead_letter_queue(&queue_arn(id, "kms-material-guard-rule-dlq")),
            ),
        )?;
        router.put_rule(
            Rule::new(
                &format!("FanOut-{}-{}", id.account, id.region),
                central_bus,
                pattern(json!({"source": [INCIDENT_SOURCE],
                               "detail-type": [REQUEST_DETAIL_TYPE],
                               "account": [CENTRAL_ACCOUNT]}))?,
            )
            .target(
                Target::new("member-incident-bus", &member_bus.to_string())
                    .with_retry(185, Duration::from_secs(86_400))
                    .with_dead_letter_queue(&Self::central_dlq_arn()),
            ),
        )?;
        Ok(())
    }

    /// `arn:aws:logs:us-east-1:999999999999:log-group:/aws/events/kms-material-guard-central`.
    pub fn audit_log_group_arn() -> String {
        format!(
            "arn:aws:logs:{CENTRAL_REGION}:{CENTRAL_ACCOUNT}:log-group:/aws/events/{CENTRAL_BUS_NAME}"
        )
    }

    /// The central dead-letter queue (fan-out and audit log deliveries that failed for good).
    pub fn central_dlq_arn() -> String {
        queue_arn(
            &MemberId::new(CENTRAL_ACCOUNT, CENTRAL_REGION),
            "kms-material-guard-central-dlq",
        )
    }

    pub fn central_bus(&self) -> &BusArn {
        &self.central_bus
    }

    pub fn member(&self, id: &MemberId) -> Option<&Arc<Member>> {
        self.members.get(id)
    }

    pub fn members(&self) -> impl Iterator<Item = &Arc<Member>> {
        self.members.values()
    }

    /// Seeds the estate of every member: `compromised` keys in scope with the compromised
    /// supplier tag, `out_of_scope` with the tag but without the scope tag, `untouched` in scope
    /// with another supplier, plus one AWS_KMS key with the compromised tag (never selected).
    pub fn seed(
        &self,
        compromised: usize,
        out_of_scope: usize,
        untouched: usize,
    ) -> Result<BTreeMap<MemberId, MemberEstate>, kms_sim::KmsError> {
        let store = self.sim.store();
        let mut estates = BTreeMap::new();
        let mut n: u8 = 0;
        for id in self.members.keys() {
            let mut e = MemberEstate::default();
            let mut make = |scope: bool, supplier: &str| -> Result<KeyInfo, kms_sim::KmsError> {
                let mut spec = KeySpec::external()
                    .in_account(&id.account)
                    .in_region(&id.region)
                    .tag(COMPROMISED.0, supplier)
                    .description(&format!("{supplier} key of {id}"));
                if scope {
                    spec = spec.tag(SCOPE_TAG.0, SCOPE_TAG.1);
                }
                let key = store.try_create_key(spec)?;
                n = n.wrapping_add(1);
                store.import_material(&key.arn, [n; 32], ImportOptions::default())?;
                Ok(key)
            };
            for _ in 0..compromised {
                e.compromised.push(make(true, COMPROMISED.1)?);
            }
            for _ in 0..out_of_scope {
                e.out_of_scope.push(make(false, COMPROMISED.1)?);
            }
            for _ in 0..untouched {
                e.untouched.push(make(true, "other-hsm")?);
            }
            store.try_create_key(
                KeySpec::aws_kms()
                    .in_account(&id.account)
                    .in_region(&id.region)
                    .tag(COMPROMISED.0, COMPROMISED.1)
                    .tag(SCOPE_TAG.0, SCOPE_TAG.1),
            )?;
            estates.insert(id.clone(), e);
        }
        Ok(estates)
    }

    /// Raises a revocation request as a responder does: PutEvents on the central bus with the
    /// central account's credentials (through the local KMS's PutEvents recorder). Returns the
    /// event id.
    pub async fn raise(&self, detail: &Value) -> Result<String, String> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(CENTRAL_BUS_NAME)
            .source(INCIDENT_SOURCE)
            .detail_type(REQUEST_DETAIL_TYPE)
            .detail(detail.to_string())
            .build();
        let out = self
            .responder
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())?;
        match out.entries().first() {
            Some(e) if out.failed_entry_count() == 0 => e
                .event_id()
                .map(str::to_string)
                .ok_or_else(|| "PutEvents answered no event id".to_string()),
            Some(e) => Err(format!(
                "PutEvents failed: {} {}",
                e.error_code().unwrap_or_default(),
                e.error_message().unwrap_or_default()
            )),
            None => Err("PutEvents answered no entry".to_string()),
        }
    }

    /// Runs every delivery due now (members run concurrently); retries stay scheduled.
    pub async fn deliver(&self) -> usize {
        self.router.deliver_due().await
    }

    /// Delivers everything, following every retry (virtual time), until nothing is scheduled.
    pub async fn settle(&self) -> Result<(), RouterError> {
        self.router.run_until_idle(100_000).await
    }

    /// The central audit log group's lines (each one EventBridge event, as in AWS).
    pub fn audit_log(&self) -> Vec<String> {
        self.router.log_lines(&Self::audit_log_group_arn())
    }

    /// The expected members, as `list-stack-instances` would list them.
    pub fn inventory(&self) -> Inventory {
        Inventory {
            members: self
                .members
                .values()
                .map(|m| InventoryMember {
                    account: m.id().account.clone(),
                    region: m.id().region.clone(),
                    organizational_units: m.organizational_units().to_vec(),
                    stack_status: None,
                })
                .collect(),
        }
    }

    /// The consolidated report of an incident from the central audit log group.
    pub fn report(&self, incident_id: &str, phase: Option<Phase>) -> Report {
        let input = Input::from_text(&self.audit_log().join("\n"));
        report::build(
            &input,
            Some(&self.inventory()),
            &ReportOptions {
                incident_id: incident_id.to_string(),
                phase,
            },
        )
    }
}

impl Member {
    /// The function ARN as a `String`.
    pub fn arn_string(&self) -> String {
        Function::arn(self).to_string()
    }
}
