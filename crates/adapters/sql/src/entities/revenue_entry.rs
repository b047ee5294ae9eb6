use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revenue_entries")]
pub struct Model {
    /// The Stripe invoice id (`in_…`) or charge id (`ch_…`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: Uuid,
    /// `invoice` (paid) or `refund` (refunded so far).
    pub kind: String,
    pub month_start: i64,
    pub amount_cents: i64,
    pub currency: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
