-- The var revenue_since (a date) leaves out the days before it.
select
    ordered_on,
    count(*) as order_count,
    sum(amount) as revenue
from {{ ref('stg_orders') }}
where status != 'returned'
    and ordered_on >= cast('{{ var("revenue_since", "2026-01-01") }}' as date)
group by ordered_on
