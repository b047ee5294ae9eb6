//! What `tollgate billing reconcile` and `tollgate stripe setup` print.

use std::fmt::Write as _;

use tollgate_billing::{HeldMeterEvent, Reconciliation};
use tollgate_kernel::Period;

/// The books of billed usage for one month.
#[derive(Debug, Clone)]
pub struct BillingBooks {
    pub month: Period,
    pub rows: Vec<Reconciliation>,
    pub held: Vec<HeldMeterEvent>,
}

impl BillingBooks {
    /// Whether every organisation's books agree.
    pub fn agree(&self) -> bool {
        self.rows.iter().all(Reconciliation::agrees)
    }

    /// A table in micro-dollars, one organisation per line, then the held events.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "usage billed in {} (micro-dollars)\n",
            self.month.start().format("%Y-%m")
        );
        let _ = writeln!(
            out,
            "{:<36} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12} {:>10}  verdict",
            "organization",
            "ledger",
            "not billed",
            "sent",
            "pending",
            "held",
            "to aggregate",
            "difference"
        );
        for row in &self.rows {
            let books = row.ledger;
            let verdict = if row.agrees() {
                "ok"
            } else if books.held_micros > 0 {
                "HELD"
            } else {
                "DIFFERENCE"
            };
            let _ = writeln!(
                out,
                "{:<36} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12} {:>10}  {verdict}",
                books.organization.to_string(),
                books.ledger_micros,
                books.not_billed_micros,
                books.sent_micros,
                books.pending_micros,
                books.held_micros,
                row.not_yet_aggregated,
                row.difference,
            );
        }
        if self.rows.is_empty() {
            let _ = writeln!(out, "(no usage and no meter events this month)");
        }
        if !self.held.is_empty() {
            let _ = writeln!(
                out,
                "\nheld meter events (see docs/billing.md, \"Held events\"):"
            );
            for event in &self.held {
                let _ = writeln!(
                    out,
                    "  {} {} {} micro-dollars: {}",
                    event.organization, event.identifier, event.value_micros, event.reason
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{}",
            if self.agree() {
                "the books agree: every micro-dollar of the ledger is sent, pending, or on a plan that bills no usage"
            } else {
                "the books do NOT agree"
            }
        );
        out
    }
}

/// What `tollgate stripe setup` made or found.
#[derive(Debug, Clone)]
pub struct StripeCatalog {
    pub meter_id: String,
    pub meter_event_name: String,
    /// `(plan, subscription price, metered price)`.
    pub plans: Vec<(String, Option<String>, Option<String>)>,
    pub created: Vec<String>,
}

impl StripeCatalog {
    /// What was created, then the configuration to paste.
    pub fn config(&self) -> String {
        let mut out = String::new();
        if self.created.is_empty() {
            let _ = writeln!(out, "# Everything existed already; nothing was created.");
        }
        for made in &self.created {
            let _ = writeln!(out, "# created {made}");
        }
        let _ = writeln!(out, "# Billing meter {}.", self.meter_id);
        let _ = writeln!(
            out,
            "\n[stripe]\nmeter_event_name = \"{}\"",
            self.meter_event_name
        );
        for (plan, price, metered) in &self.plans {
            let _ = writeln!(out, "\n[plans.{plan}]");
            if let Some(price) = price {
                let _ = writeln!(out, "stripe_price_id = \"{price}\"");
            }
            if let Some(metered) = metered {
                let _ = writeln!(out, "stripe_metered_price_id = \"{metered}\"");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tollgate_billing::MeterLedger;
    use tollgate_kernel::OrganizationId;

    use super::*;

    fn books(sent: i64, held: i64) -> BillingBooks {
        let ledger = MeterLedger {
            organization: OrganizationId::new(),
            ledger_micros: 1_000,
            aggregated_micros: 1_000,
            not_billed_micros: 0,
            sent_micros: sent,
            pending_micros: 0,
            held_micros: held,
        };
        BillingBooks {
            month: Period::utc_month(Utc::now()),
            rows: vec![ledger.reconcile()],
            held: Vec::new(),
        }
    }

    #[test]
    fn the_table_names_each_verdict() {
        let agreeing = books(1_000, 0);
        assert!(agreeing.agree());
        assert!(agreeing.table().contains("the books agree"));
        let held = books(900, 100);
        assert!(!held.agree());
        assert!(held.table().contains("HELD"));
        let missing = books(999, 0);
        assert!(missing.table().contains("DIFFERENCE"));
        assert!(missing.table().contains("do NOT agree"));
    }

    #[test]
    fn the_config_names_every_price() {
        let catalog = StripeCatalog {
            meter_id: "mtr_1".into(),
            meter_event_name: "tollgate_usage".into(),
            plans: vec![("pro".into(), Some("price_a".into()), Some("price_b".into()))],
            created: vec!["meter tollgate_usage".into()],
        };
        let config = catalog.config();
        assert!(config.contains("meter_event_name = \"tollgate_usage\""));
        assert!(config.contains(
            "[plans.pro]\nstripe_price_id = \"price_a\"\nstripe_metered_price_id = \"price_b\""
        ));
        assert!(config.contains("# created meter tollgate_usage"));
    }
}
