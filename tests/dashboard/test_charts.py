from datetime import date, timedelta

from dashboard.charts import usage_chart

DAYS = [date(2026, 11, 12) + timedelta(days=n) for n in range(14)]


def test_bars_scale_to_a_round_top_of_the_axis() -> None:
    chart = usage_chart([(day, 0, 0) for day in DAYS[:-1]] + [(DAYS[-1], 30, 75)])

    assert [line.label for line in chart.gridlines] == ["0", "20", "40", "60", "80"]
    remember, recall = chart.bars[-2:]
    assert abs(recall.height / remember.height - 75 / 30) < 0.01
    assert remember.y + remember.height == recall.y + recall.height  # same baseline
    assert chart.total == 105
    assert recall.title == "Nov 25: 75 recall calls"


def test_an_empty_fortnight_draws_flat_bars_and_a_small_axis() -> None:
    chart = usage_chart([(day, 0, 0) for day in DAYS])

    assert all(bar.height == 0 for bar in chart.bars)
    assert [line.label for line in chart.gridlines] == ["0", "1", "2", "3", "4"]
    assert chart.days[-1].label == "Nov 25"
    assert len(chart.days) == 7


def test_bars_stay_inside_the_drawing() -> None:
    chart = usage_chart([(day, n * 1000, n * 3333) for n, day in enumerate(DAYS)])

    for bar in chart.bars:
        assert bar.x >= 0 and bar.x + bar.width <= chart.width
        assert bar.y >= 0 and bar.y + bar.height <= chart.height
    assert chart.gridlines[-1].label == "80,000"  # 43,329 rounded up to 4 x 20,000
