"""The bench's ingest share: medians per source over the paired rounds."""

from bench.ingest_pairs import share


def test_the_share_is_the_sum_of_copys_medians_over_the_sum_of_the_loaders():
    rounds = [
        {"loader": {"crm": 4.0, "web": 20.0}, "plain": {"crm": 2.0, "web": 10.0}},
        {"loader": {"crm": 9.0, "web": 18.0}, "plain": {"crm": 1.0, "web": 12.0}},  # a slow minute for crm's load
        {"loader": {"crm": 5.0, "web": 30.0}, "plain": {"crm": 3.0, "web": 11.0}},
    ]
    result = share(rounds)
    assert result["median_seconds"] == {"loader": {"crm": 5.0, "web": 20.0}, "plain": {"crm": 2.0, "web": 11.0}}
    assert (result["loader_seconds"], result["plain_copy_seconds"], result["share"]) == (25.0, 13.0, 0.52)
    assert result["rounds"] == 3
    assert result["round_seconds"] == [
        {"loader": 24.0, "plain": 12.0},
        {"loader": 27.0, "plain": 13.0},
        {"loader": 35.0, "plain": 14.0},
    ]


def test_one_round_is_its_own_median():
    result = share([{"loader": {"pos": 2.0}, "plain": {"pos": 0.5}}])
    assert result["share"] == 0.25 and result["rounds"] == 1
