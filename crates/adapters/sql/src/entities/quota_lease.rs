use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub holder: String,
    pub organization_id: Uuid,
    pub action: String,
    pub day_start: i64,
    pub month_start: i64,
    /// Grants applied (a retried grant with this sequence is answered, not applied again).
    pub grants: i64,
    pub units_granted: i64,
    pub micros_granted: i64,
    /// What the last grant added, to answer its retry.
    pub last_units: i64,
    pub last_micros: i64,
    pub units_settled: i64,
    pub micros_settled: i64,
    /// `active`, `returned` or `expired`.
    pub status: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
