//! The billing meter: found among the account's active meters by its event name, or created.

use stripe::StripeRequest;
use stripe_billing::billing_meter::{
    CreateBillingMeter, CreateBillingMeterCustomerMapping, CreateBillingMeterCustomerMappingType,
    CreateBillingMeterDefaultAggregation, CreateBillingMeterDefaultAggregationFormula,
    CreateBillingMeterValueSettings, ListBillingMeter,
};
use stripe_billing::{
    BillingMeter, BillingMeterResourceAggregationSettingsFormula,
    BillingMeterResourceCustomerMappingSettingsType, BillingMeterStatus,
};
use tollgate_billing::PaymentError;

use super::idempotency_key;
use crate::client::StripeClient;
use crate::client::errors::classify;

/// The meter's name in the dashboard; one unit is one micro-dollar of usage.
const DISPLAY_NAME: &str = "Tollgate usage (micro-dollars)";

// The payload keys of the meter events `StripeClient::send_meter_event` sends: a meter that
// reads other keys would count none of Tollgate's usage.
use crate::client::{METER_CUSTOMER_KEY as CUSTOMER_KEY, METER_VALUE_KEY as VALUE_KEY};

/// Stripe's largest page.
const PAGE_SIZE: i64 = 100;

impl StripeClient {
    /// The id of the active meter counting `event_name`, created if there is none.
    pub(super) async fn ensure_meter(
        &self,
        event_name: &str,
        created: &mut Vec<String>,
    ) -> Result<String, PaymentError> {
        if let Some(meter) = self.active_meter(event_name).await? {
            check_settings(&meter)?;
            return Ok(meter.id.to_string());
        }
        let meter = CreateBillingMeter::new(
            CreateBillingMeterDefaultAggregation::new(
                CreateBillingMeterDefaultAggregationFormula::Sum,
            ),
            DISPLAY_NAME,
            event_name,
        )
        .customer_mapping(CreateBillingMeterCustomerMapping::new(
            CUSTOMER_KEY,
            CreateBillingMeterCustomerMappingType::ById,
        ))
        .value_settings(CreateBillingMeterValueSettings::new(VALUE_KEY))
        .customize()
        .request_strategy(idempotency_key(format!("tollgate-meter-{event_name}"))?)
        .send(&self.client)
        .await
        .map_err(classify)?;
        created.push(format!(
            "billing meter {} counting event {event_name:?}",
            meter.id
        ));
        Ok(meter.id.to_string())
    }

    /// Stripe cannot filter meters by event name, so the active ones are read page by page.
    async fn active_meter(&self, event_name: &str) -> Result<Option<BillingMeter>, PaymentError> {
        let mut after: Option<String> = None;
        loop {
            let mut list = ListBillingMeter::new()
                .status(BillingMeterStatus::Active)
                .limit(PAGE_SIZE);
            if let Some(after) = after.take() {
                list = list.starting_after(after);
            }
            let page = list.send(&self.client).await.map_err(classify)?;
            let last = page.data.last().map(|meter| meter.id.to_string());
            if let Some(meter) = page
                .data
                .into_iter()
                .find(|meter| meter.event_name == event_name)
            {
                return Ok(Some(meter));
            }
            // An empty page that claims more would otherwise be asked for forever.
            match last {
                Some(last) if page.has_more => after = Some(last),
                _ => return Ok(None),
            }
        }
    }
}

/// Meter events reach every meter with their event name, so a meter that counts them
/// differently can neither be reused (it would bill wrongly) nor left beside a new one (it
/// would go on counting): the set-up stops and says why.
fn check_settings(meter: &BillingMeter) -> Result<(), PaymentError> {
    let sums =
        meter.default_aggregation.formula == BillingMeterResourceAggregationSettingsFormula::Sum;
    let by_customer_id = meter.customer_mapping.type_
        == BillingMeterResourceCustomerMappingSettingsType::ById
        && meter.customer_mapping.event_payload_key == CUSTOMER_KEY;
    let reads_value = meter.value_settings.event_payload_key == VALUE_KEY;
    if sums && by_customer_id && reads_value {
        return Ok(());
    }
    Err(PaymentError::Rejected(format!(
        "billing meter {} for event {:?} aggregates with {:?}, maps customers by {:?} key {:?} \
         and reads the value from {:?}; Tollgate needs sum, by_id {CUSTOMER_KEY:?} and \
         {VALUE_KEY:?}: deactivate it or choose another event name",
        meter.id,
        meter.event_name,
        meter.default_aggregation.formula.as_str(),
        meter.customer_mapping.type_.as_str(),
        meter.customer_mapping.event_payload_key,
        meter.value_settings.event_payload_key,
    )))
}
