select
    customers.customer_id,
    customers.customer_name,
    customers.country,
    count(orders.order_id) as order_count,
    coalesce(sum(orders.amount), 0) as lifetime_value
from {{ ref('stg_customers') }} as customers
left join {{ ref('stg_orders') }} as orders
    on orders.customer_id = customers.customer_id and orders.status != 'returned'
group by all
