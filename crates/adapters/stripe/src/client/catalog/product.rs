//! A plan's product, under the id Tollgate gives it, so it is found without a search.

use std::collections::HashMap;

use stripe::StripeRequest;
use stripe_product::product::{CreateProduct, RetrieveProduct};
use tollgate_billing::PaymentError;

use super::{CatalogPlan, idempotency_key};
use crate::client::StripeClient;
use crate::client::errors::{classify, is_missing_resource};

/// The product metadata key naming the plan, for whoever reads the dashboard.
const PLAN_METADATA_KEY: &str = "tollgate_plan";

impl StripeClient {
    /// The id of `plan`'s product, `tollgate_{plan}`, created if it does not exist.
    ///
    /// An existing product is used as it is: a renamed plan does not rename it.
    pub(super) async fn ensure_product(
        &self,
        plan: &CatalogPlan,
        created: &mut Vec<String>,
    ) -> Result<String, PaymentError> {
        let id = format!("tollgate_{}", plan.plan);
        match RetrieveProduct::new(id.as_str()).send(&self.client).await {
            Ok(product) => return Ok(product.id.to_string()),
            Err(error) if is_missing_resource(&error) => {}
            Err(error) => return Err(classify(error)),
        }
        let product = CreateProduct::new(plan.name.as_str())
            .id(id.as_str())
            .metadata(HashMap::from([(
                PLAN_METADATA_KEY.to_owned(),
                plan.plan.clone(),
            )]))
            .customize()
            .request_strategy(idempotency_key(format!("tollgate-product-{id}"))?)
            .send(&self.client)
            .await
            .map_err(classify)?;
        created.push(format!("product {} {:?}", product.id, product.name));
        Ok(product.id.to_string())
    }
}
