use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reservations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub action: String,
    pub day_start: i64,
    pub month_start: i64,
    pub estimate_micros: i64,
    pub actual_micros: Option<i64>,
    /// `pending`, `settled` or `released`.
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
