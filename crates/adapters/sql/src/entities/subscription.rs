use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    pub subscription_id: String,
    pub customer_id: String,
    /// `trialing`, `active`, `past_due` or `canceled`.
    pub status: String,
    pub price: Option<String>,
    /// The plan the price is sold as, when it is one.
    pub plan: Option<String>,
    pub current_period_end: i64,
    pub past_due_since: Option<i64>,
    /// When the snapshot was fetched from Stripe: an older fetch never replaces a newer one.
    pub fetched_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
