-- Every order has a positive amount: a returned order keeps its amount, refunds are elsewhere.
select order_id, amount
from {{ ref('stg_orders') }}
where amount <= 0
