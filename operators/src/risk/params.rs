//! The `[risk]` section: sizing, tiered entries, order type and every pre-trade limit.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::event::{OrderKind, SECOND, Ts};

/// How a signal's strength becomes a position size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// `|strength| × position_pct` of equity.
    Fixed,
    /// `|strength| × vol_target_pct / forecast annual volatility` of equity: each position adds
    /// about `vol_target_pct` of equity in annual volatility. Fixed fraction until a forecast exists.
    VolTarget,
    /// `kelly_fraction × (p − (1 − p) / b)` of equity, at most `kelly_cap_pct`, with the win
    /// probability `p = 0.5 + 0.5 × |strength| × confidence` and the payoff ratio `b` of the
    /// tiers' share-weighted take-profit over stop-loss (1 when a tier lacks either).
    Kelly,
}

/// One tier of an entry: a share of the position with its own exit levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    /// Share of the entry's size, 0..1; the shares of all tiers sum to 1.
    pub share: f64,
    /// Close the tier when the price has moved this fraction in favour of the position.
    #[serde(default)]
    pub take_profit_pct: Option<f64>,
    /// Close the tier when the price has moved this fraction against the position.
    #[serde(default)]
    pub stop_loss_pct: Option<f64>,
}

impl Tier {
    fn new(name: &str, share: f64, take_profit_pct: f64, stop_loss_pct: f64) -> Self {
        Tier { name: name.into(), share, take_profit_pct: Some(take_profit_pct), stop_loss_pct: Some(stop_loss_pct) }
    }

    /// Conservative 25% +5%/−5%, moderate 50% +10%/−7%, aggressive 25% +20%/−10%.
    pub fn defaults() -> Vec<Tier> {
        vec![
            Tier::new("conservative", 0.25, 0.05, 0.05),
            Tier::new("moderate", 0.50, 0.10, 0.07),
            Tier::new("aggressive", 0.25, 0.20, 0.10),
        ]
    }
}

/// Risk and sizing parameters, as written in the job config's `[risk]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskParams {
    pub account: String,
    pub initial_cash: f64,
    pub sizing: Sizing,
    /// Fixed sizing: position size, as a fraction of equity, at full signal strength.
    pub position_pct: f64,
    /// Volatility targeting: annual volatility one position may add, as a fraction of equity.
    pub vol_target_pct: f64,
    /// The indicator column of per-bar volatility the forecast comes from (empty: none).
    pub vol_column: String,
    /// Bars per year of that column, to annualize it (1-minute bars of US sessions: 252 × 390).
    pub bars_per_year: f64,
    pub kelly_fraction: f64,
    pub kelly_cap_pct: f64,
    /// The tiers every entry is split into.
    pub tiers: Vec<Tier>,
    /// Entries as `market` or `limit` orders; exits are always market orders.
    pub entry_order: OrderKind,
    /// Limit entries: this many basis points better than the decision price.
    pub limit_offset_bps: f64,
    /// Limit entries expire unfilled after this many seconds of event time.
    pub limit_ttl_s: f64,
    /// The largest position allowed in one symbol, as a fraction of equity.
    pub max_position_pct: f64,
    /// |strength| at or above which a position is opened (or reversed).
    pub entry_threshold: f64,
    /// |strength| below which a position is closed.
    pub exit_threshold: f64,
    /// Orders smaller than this many units are not sent.
    pub min_order_qty: f64,
    /// Gross exposure (sum of |position| x price) may not exceed this fraction of equity.
    pub max_gross_exposure_pct: f64,
    /// No single order may trade more than this notional.
    pub max_order_notional: f64,
    /// Fat-finger band: a decision price this far (fraction) from the previous trade is refused.
    pub price_band_pct: f64,
    /// Orders per symbol per minute of event time.
    pub max_orders_per_minute_symbol: usize,
    /// Orders per account per minute of event time.
    pub max_orders_per_minute_account: usize,
    /// A loss of this fraction of the day's opening equity suspends new entries until the next
    /// UTC day.
    pub daily_loss_pct: f64,
    /// A loss of this fraction of the week's opening equity suspends new entries until the next
    /// week (weeks start on Monday, 00:00 UTC).
    pub weekly_loss_pct: f64,
    /// A fall of this fraction from peak equity halts trading and flattens every position.
    pub max_drawdown_pct: f64,
    /// A symbol with no trade for this many seconds of event time is stale: no new orders.
    pub stale_after_s: f64,
    /// Close a stale symbol's position.
    pub flatten_on_stale: bool,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams {
            account: "paper".into(),
            initial_cash: 1_000_000.0,
            sizing: Sizing::Fixed,
            position_pct: 0.04,
            vol_target_pct: 0.01,
            vol_column: String::new(),
            bars_per_year: 252.0 * 390.0,
            kelly_fraction: 0.25,
            kelly_cap_pct: 0.04,
            tiers: Tier::defaults(),
            entry_order: OrderKind::Market,
            limit_offset_bps: 5.0,
            limit_ttl_s: 60.0,
            max_position_pct: 0.05,
            entry_threshold: 0.3,
            exit_threshold: 0.1,
            min_order_qty: 1.0,
            max_gross_exposure_pct: 0.20,
            max_order_notional: 100_000.0,
            price_band_pct: 0.10,
            max_orders_per_minute_symbol: 4,
            max_orders_per_minute_account: 120,
            daily_loss_pct: 0.03,
            weekly_loss_pct: 0.06,
            max_drawdown_pct: 0.10,
            stale_after_s: 30.0,
            flatten_on_stale: false,
        }
    }
}

fn fraction(key: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("risk.{key} must be between 0 and 1, got {v}")) }
}

fn positive(key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("risk.{key} must be positive, got {v}")) }
}

impl RiskParams {
    /// The limits a control command may change while a job runs.
    pub const SETTABLE: [&'static str; 13] = [
        "position_pct",
        "max_position_pct",
        "max_gross_exposure_pct",
        "max_order_notional",
        "price_band_pct",
        "daily_loss_pct",
        "weekly_loss_pct",
        "max_drawdown_pct",
        "entry_threshold",
        "exit_threshold",
        "max_orders_per_minute_symbol",
        "max_orders_per_minute_account",
        "stale_after_s",
    ];

    /// The field of a settable limit.
    fn limit_field(&mut self, limit: &str) -> Option<LimitField<'_>> {
        Some(match limit {
            "position_pct" => LimitField::Real(&mut self.position_pct),
            "max_position_pct" => LimitField::Real(&mut self.max_position_pct),
            "max_gross_exposure_pct" => LimitField::Real(&mut self.max_gross_exposure_pct),
            "max_order_notional" => LimitField::Real(&mut self.max_order_notional),
            "price_band_pct" => LimitField::Real(&mut self.price_band_pct),
            "daily_loss_pct" => LimitField::Real(&mut self.daily_loss_pct),
            "weekly_loss_pct" => LimitField::Real(&mut self.weekly_loss_pct),
            "max_drawdown_pct" => LimitField::Real(&mut self.max_drawdown_pct),
            "entry_threshold" => LimitField::Real(&mut self.entry_threshold),
            "exit_threshold" => LimitField::Real(&mut self.exit_threshold),
            "max_orders_per_minute_symbol" => LimitField::Count(&mut self.max_orders_per_minute_symbol),
            "max_orders_per_minute_account" => LimitField::Count(&mut self.max_orders_per_minute_account),
            "stale_after_s" => LimitField::Real(&mut self.stale_after_s),
            _ => return None,
        })
    }

    /// The current value of a settable limit.
    pub fn limit(&self, limit: &str) -> Option<f64> {
        match self.clone().limit_field(limit)? {
            LimitField::Real(v) => Some(*v),
            LimitField::Count(n) => Some(*n as f64),
        }
    }

    /// These limits with `limit` set to `value`, checked as a config would be; the error names
    /// the limit and the reason.
    pub fn with_limit(&self, limit: &str, value: f64) -> Result<RiskParams, String> {
        let mut next = self.clone();
        match next.limit_field(limit) {
            Some(LimitField::Real(v)) => *v = value,
            Some(LimitField::Count(n)) => {
                if !(value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 1e9) {
                    return Err(format!("risk.{limit} must be a whole number of orders, got {value}"));
                }
                *n = value as usize;
            }
            None => {
                return Err(format!(
                    "`{limit}` is not a limit that can be changed while running (one of: {})",
                    Self::SETTABLE.join(", ")
                ));
            }
        }
        next.validate()?;
        Ok(next)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.account.is_empty() {
            return Err("risk.account must not be empty".into());
        }
        positive("initial_cash", self.initial_cash)?;
        for (key, v) in [
            ("position_pct", self.position_pct),
            ("vol_target_pct", self.vol_target_pct),
            ("kelly_fraction", self.kelly_fraction),
            ("kelly_cap_pct", self.kelly_cap_pct),
            ("max_position_pct", self.max_position_pct),
            ("entry_threshold", self.entry_threshold),
            ("exit_threshold", self.exit_threshold),
            ("price_band_pct", self.price_band_pct),
            ("daily_loss_pct", self.daily_loss_pct),
            ("weekly_loss_pct", self.weekly_loss_pct),
            ("max_drawdown_pct", self.max_drawdown_pct),
        ] {
            fraction(key, v)?;
        }
        if self.exit_threshold > self.entry_threshold {
            return Err(format!(
                "risk.exit_threshold ({}) must not exceed risk.entry_threshold ({})",
                self.exit_threshold, self.entry_threshold
            ));
        }
        if self.sizing == Sizing::VolTarget && self.vol_column.is_empty() {
            return Err("risk.sizing = \"vol_target\" needs risk.vol_column (an indicator column of volatility, such as \"realvol_30\")".into());
        }
        self.validate_tiers()?;
        positive("min_order_qty", self.min_order_qty)?;
        if !(0.0..=10.0).contains(&self.max_gross_exposure_pct) {
            return Err(format!(
                "risk.max_gross_exposure_pct must be between 0 and 10, got {}",
                self.max_gross_exposure_pct
            ));
        }
        positive("max_order_notional", self.max_order_notional)?;
        if !(0.0..10_000.0).contains(&self.limit_offset_bps) {
            return Err(format!("risk.limit_offset_bps must be between 0 and 10000, got {}", self.limit_offset_bps));
        }
        positive("limit_ttl_s", self.limit_ttl_s)?;
        positive("stale_after_s", self.stale_after_s)?;
        if self.max_orders_per_minute_symbol == 0 || self.max_orders_per_minute_account == 0 {
            return Err(
                "risk.max_orders_per_minute_symbol and risk.max_orders_per_minute_account must be at least 1".into()
            );
        }
        Ok(())
    }

    fn validate_tiers(&self) -> Result<(), String> {
        if self.tiers.is_empty() {
            return Err("risk.tiers must list at least one tier".into());
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if !(t.share > 0.0 && t.share <= 1.0) {
                return Err(format!(
                    "risk.tiers[{i}] ({}): share must be above 0 and at most 1, got {}",
                    t.name, t.share
                ));
            }
            for (key, v) in [("take_profit_pct", t.take_profit_pct), ("stop_loss_pct", t.stop_loss_pct)] {
                if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0 && *v < 10.0)) {
                    return Err(format!("risk.tiers[{i}] ({}): {key} must be above 0 and below 10, got {v}", t.name));
                }
            }
        }
        let total: f64 = self.tiers.iter().map(|t| t.share).sum();
        if (total - 1.0).abs() > 1e-9 {
            return Err(format!("risk.tiers: the shares must sum to 1, they sum to {total}"));
        }
        Ok(())
    }

    pub fn stale_after(&self) -> Ts {
        (self.stale_after_s * SECOND as f64) as Ts
    }

    pub fn limit_ttl(&self) -> Ts {
        (self.limit_ttl_s * SECOND as f64) as Ts
    }

    /// The tiers' payoff ratio for Kelly sizing: share-weighted take-profit over stop-loss.
    pub fn payoff_ratio(&self) -> f64 {
        let mut gain = 0.0;
        let mut loss = 0.0;
        for t in &self.tiers {
            match (t.take_profit_pct, t.stop_loss_pct) {
                (Some(tp), Some(sl)) => {
                    gain += t.share * tp;
                    loss += t.share * sl;
                }
                _ => return 1.0,
            }
        }
        gain / loss
    }

    /// The fraction of equity to hold for a signal, and how it was reached.
    pub fn size_fraction(&self, strength: f64, confidence: f64, volatility: f64) -> (f64, String) {
        let mut words = String::new();
        let f = self.size(strength, confidence, volatility, Some(&mut words));
        (f, words)
    }

    /// [`size_fraction`](Self::size_fraction) without the words: what a signal whose order may
    /// yet be refused needs.
    pub fn fraction(&self, strength: f64, confidence: f64, volatility: f64) -> f64 {
        self.size(strength, confidence, volatility, None)
    }

    fn size(&self, strength: f64, confidence: f64, volatility: f64, words: Option<&mut String>) -> f64 {
        let s = strength.abs();
        match self.sizing {
            Sizing::VolTarget if volatility.is_finite() && volatility > 0.0 => {
                let f = s * self.vol_target_pct / volatility;
                if let Some(w) = words {
                    let _ = write!(
                        w,
                        "vol_target: |strength| {s:.3} x vol_target_pct {} / forecast {volatility:.4} = {f:.5}",
                        self.vol_target_pct
                    );
                }
                f
            }
            Sizing::Kelly => {
                let p = 0.5 + 0.5 * s * confidence.clamp(0.0, 1.0);
                let b = self.payoff_ratio();
                let kelly = p - (1.0 - p) / b;
                let f = (self.kelly_fraction * kelly).clamp(0.0, self.kelly_cap_pct);
                if let Some(w) = words {
                    let _ = write!(
                        w,
                        "kelly: p {p:.3}, b {b:.3}, f* {kelly:.4} x kelly_fraction {} = {:.5}, cap {} -> {f:.5}",
                        self.kelly_fraction,
                        self.kelly_fraction * kelly,
                        self.kelly_cap_pct
                    );
                }
                f
            }
            sizing => {
                let f = s * self.position_pct;
                if let Some(w) = words {
                    let why = if sizing == Sizing::VolTarget { " (no volatility forecast yet)" } else { "" };
                    let _ = write!(w, "fixed{why}: |strength| {s:.3} x position_pct {} = {f:.5}", self.position_pct);
                }
                f
            }
        }
    }
}

/// A limit's field, by its kind.
enum LimitField<'a> {
    Real(&'a mut f64),
    Count(&'a mut usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tiers_are_the_documented_ones_and_valid() {
        let p = RiskParams::default();
        p.validate().unwrap();
        assert_eq!(p.tiers.iter().map(|t| t.share).collect::<Vec<_>>(), [0.25, 0.5, 0.25]);
        // (0.25 x 5 + 0.5 x 10 + 0.25 x 20) / (0.25 x 5 + 0.5 x 7 + 0.25 x 10)
        assert!((p.payoff_ratio() - 11.25 / 7.25).abs() < 1e-15);
    }

    #[test]
    fn sizing_methods_follow_their_formulas() {
        let fixed = RiskParams::default();
        assert_eq!(fixed.size_fraction(-0.5, 1.0, f64::NAN).0, 0.02);
        let vol = RiskParams { sizing: Sizing::VolTarget, vol_column: "realvol_30".into(), ..RiskParams::default() };
        assert!((vol.size_fraction(0.5, 1.0, 0.25).0 - 0.5 * 0.01 / 0.25).abs() < 1e-15);
        assert_eq!(vol.size_fraction(0.5, 1.0, f64::NAN).0, 0.02, "fixed until a forecast exists");
        let kelly = RiskParams { sizing: Sizing::Kelly, kelly_cap_pct: 1.0, ..RiskParams::default() };
        let b = 11.25 / 7.25;
        let (f, why) = kelly.size_fraction(0.6, 0.5, f64::NAN);
        assert!((f - 0.25 * (0.65 - 0.35 / b)).abs() < 1e-15, "{why}");
        let capped = RiskParams { sizing: Sizing::Kelly, ..RiskParams::default() };
        assert_eq!(capped.size_fraction(1.0, 1.0, f64::NAN).0, 0.04);
        let even = RiskParams {
            tiers: vec![Tier { name: "all".into(), share: 1.0, take_profit_pct: None, stop_loss_pct: None }],
            ..capped
        };
        assert_eq!(even.size_fraction(0.0, 1.0, f64::NAN).0, 0.0, "an even bet without an edge is no bet");
    }

    #[test]
    fn bad_tiers_are_refused_with_the_tier_named() {
        let mut p = RiskParams::default();
        p.tiers[1].share = 0.6;
        assert!(p.validate().unwrap_err().contains("sum to 1"));
        p.tiers[1].share = 0.5;
        p.tiers[2].stop_loss_pct = Some(-0.1);
        let e = p.validate().unwrap_err();
        assert!(e.contains("risk.tiers[2] (aggressive): stop_loss_pct"), "{e}");
        let p = RiskParams { sizing: Sizing::VolTarget, ..RiskParams::default() };
        assert!(p.validate().unwrap_err().contains("risk.vol_column"));
    }
}
