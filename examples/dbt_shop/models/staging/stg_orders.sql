-- depends_on: {{ ref('raw_orders') }}
select
    id as order_id,
    customer_id,
    ordered_on,
    status,
    amount
from {{ source('shop', 'raw_orders') }}
