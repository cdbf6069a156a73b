//! DynamoDB Local's Streams API, read as the Lambda service reads a table's stream for a
//! function: the records of every shard, in order, filtered as the template's filters do.

use aws_lambda_events::event::dynamodb::Event;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One call of the Streams API on DynamoDB Local (which does not check signatures).
pub async fn call(target: &str, body: Value) -> Result<Value, String> {
    let response = labgate::net::http_client_builder()
        .build()
        .map_err(|e| e.to_string())?
        .post(crate::endpoint())
        .header("x-amz-target", format!("DynamoDBStreams_20120810.{target}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    let status = response.status();
    let json: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{target}: {json}"));
    }
    Ok(json)
}

/// What both stream functions' filters pass (template.yaml): outbox inserts. Lambda filters
/// before a function sees a record; and DynamoDB Local writes an empty map as `{}` (not
/// `{"M": {}}`), which no Lambda event parses, in the user items left out here.
pub fn passes_filter(record: &Value) -> bool {
    record["eventName"] == "INSERT" && record["dynamodb"]["Keys"]["sk"]["S"] == "#EVENT"
}

/// The records `shards` (shard id → next iterator, `None` once closed) have not handed over
/// yet, from every shard of the table's latest stream (new shards from their start), filtered
/// and shaped as Lambda hands a batch to a function (plus `eventSourceARN`).
pub async fn poll(
    store: &labgate::store::Store,
    shards: &mut BTreeMap<String, Option<String>>,
) -> Result<Event, String> {
    let arn = store
        .client()
        .describe_table()
        .table_name(store.table())
        .send()
        .await
        .map_err(|e| format!("DescribeTable: {e}"))?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or("the table has no stream")?;
    let described = call("DescribeStream", json!({"StreamArn": arn})).await?;
    for shard in described["StreamDescription"]["Shards"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = shard["ShardId"].as_str().unwrap_or_default().to_string();
        if let std::collections::btree_map::Entry::Vacant(new) = shards.entry(id) {
            let request = json!({"StreamArn": arn, "ShardId": new.key(), "ShardIteratorType": "TRIM_HORIZON"});
            let iterator = call("GetShardIterator", request).await?["ShardIterator"].clone();
            new.insert(iterator.as_str().map(str::to_string));
        }
    }
    let mut records = Vec::new();
    for next in shards.values_mut() {
        // Every page the shard has now (an open shard always gives a next iterator).
        while let Some(iterator) = next.clone() {
            let got = call(
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": 1000}),
            )
            .await?;
            *next = got["NextShardIterator"].as_str().map(str::to_string);
            let page = got["Records"].as_array().cloned().unwrap_or_default();
            if page.is_empty() {
                break;
            }
            for mut record in page {
                if passes_filter(&record) {
                    record["eventSourceARN"] = arn.clone().into();
                    records.push(record);
                }
            }
        }
    }
    serde_json::from_value(json!({ "Records": records })).map_err(|e| e.to_string())
}
