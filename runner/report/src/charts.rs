//! The charts, drawn by plotters into SVG strings: horizontal bars (label distribution,
//! per-class F1) and the confusion-matrix heatmap.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Pixels per bar row.
const ROW_HEIGHT: u32 = 28;
const WIDTH: u32 = 760;
const LABEL_CHARS: usize = 28;

fn short(label: &str) -> String {
    if label.chars().count() > LABEL_CHARS {
        format!(
            "{}…",
            label.chars().take(LABEL_CHARS - 1).collect::<String>()
        )
    } else {
        label.to_string()
    }
}

fn label_area(labels: &[String]) -> u32 {
    let longest = labels
        .iter()
        .map(|label| short(label).chars().count())
        .max()
        .unwrap_or(4) as u32;
    (longest * 8 + 16).clamp(60, 260)
}

fn segment_label(labels: &[String], value: &SegmentValue<u32>) -> String {
    match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => labels
            .get(*index as usize)
            .map(|label| short(label))
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

type DrawResult<T> = Result<T, String>;

fn failed<E: std::fmt::Debug>(error: E) -> String {
    format!("{error:?}")
}

/// Horizontal bars of `values` (one per label); `outline` draws a second set as hollow
/// bars on top (e.g. gold counts against predicted ones).
pub(crate) fn bars(
    title: &str,
    labels: &[String],
    values: &[f64],
    outline: Option<&[f64]>,
    maximum: Option<f64>,
) -> DrawResult<String> {
    let count = labels.len().max(1) as u32;
    let height = 70 + ROW_HEIGHT * count;
    let top = maximum.unwrap_or_else(|| {
        values
            .iter()
            .chain(outline.unwrap_or_default())
            .copied()
            .fold(0.0, f64::max)
            * 1.08
    });
    let top = if top > 0.0 { top } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(label_area(labels))
            .build_cartesian_2d(0.0..top, (0..count).into_segmented())
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .x_labels(6)
            .label_style(("sans-serif", 13))
            .y_labels(count as usize)
            .y_label_formatter(&|value| segment_label(labels, value))
            .draw()
            .map_err(failed)?;
        let palette = RGBColor(66, 112, 180);
        chart
            .draw_series(values.iter().enumerate().map(|(index, value)| {
                let row = index as u32;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row)),
                        (*value, SegmentValue::Exact(row + 1)),
                    ],
                    palette.mix(0.85).filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(failed)?;
        if let Some(outline) = outline {
            chart
                .draw_series(outline.iter().enumerate().map(|(index, value)| {
                    let row = index as u32;
                    let mut bar = Rectangle::new(
                        [
                            (0.0, SegmentValue::Exact(row)),
                            (*value, SegmentValue::Exact(row + 1)),
                        ],
                        BLACK.stroke_width(2),
                    );
                    bar.set_margin(2, 2, 0, 0);
                    bar
                }))
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// The confusion matrix as a heatmap: rows are gold classes, columns predicted ones (plus
/// `failed`), each cell shaded by its share of its row, with counts when it is small enough.
pub(crate) fn heatmap(labels: &[String], confusion: &[Vec<u64>]) -> DrawResult<String> {
    let rows = labels.len() as u32;
    let columns = rows + 1;
    let cell = if rows <= 12 { 76 } else { 14 };
    let left = label_area(labels);
    let rotate = rows > 12;
    let bottom = if rotate { left.min(200) } else { 40 };
    let width = left + cell * columns + 40;
    let height = 50 + cell * rows + bottom;
    let column_labels: Vec<String> = labels
        .iter()
        .cloned()
        .chain(std::iter::once("failed".to_string()))
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Confusion matrix (rows: gold, columns: predicted)",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(bottom)
            .y_label_area_size(left)
            .build_cartesian_2d((0..columns).into_segmented(), (0..rows).into_segmented())
            .map_err(failed)?;
        // Gold rows read top to bottom in label order.
        let flip = |row: u32| rows - 1 - row;
        let gold_labels: Vec<String> = (0..rows)
            .map(|row| labels[flip(row) as usize].clone())
            .collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(columns as usize)
            .y_labels(rows as usize)
            .x_label_formatter(&|value| segment_label(&column_labels, value))
            .y_label_formatter(&|value| segment_label(&gold_labels, value))
            .label_style(("sans-serif", 12))
            .x_label_style(if rotate {
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90)
            } else {
                ("sans-serif", 12).into_font()
            })
            .draw()
            .map_err(failed)?;
        let mut cells = Vec::new();
        let mut numbers = Vec::new();
        for (gold, counts) in confusion.iter().enumerate() {
            let total: u64 = counts.iter().sum();
            for (predicted, count) in counts.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    *count as f64 / total as f64
                };
                let (x, y) = (predicted as u32, flip(gold as u32));
                let color = if predicted == gold {
                    RGBColor(30, 120, 60)
                } else {
                    RGBColor(200, 50, 40)
                };
                let fill = if *count == 0 {
                    RGBColor(245, 245, 245).filled()
                } else {
                    color.mix(0.15 + 0.85 * share).filled()
                };
                cells.push(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill,
                ));
                if rows <= 12 {
                    let style = TextStyle::from(("sans-serif", 13).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Center))
                        .color(if share > 0.5 { &WHITE } else { &BLACK });
                    numbers.push(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        style,
                    ));
                }
            }
        }
        chart.draw_series(cells).map_err(failed)?;
        chart.draw_series(numbers).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}
