//! The blob endpoint's XML bodies, byte for byte: every response kind the endpoint writes,
//! with its varying values (ETags, dates, snapshot times, request ids) masked. Clients
//! (the Azure SDKs, the agent, the load generator) parse these documents, so a change here
//! is a wire change.

use reqwest::{Method, Response};

use crate::helpers::{BlobClient, TestApp, ACCOUNT};

/// The body, after checking the response is XML with `status`, with the text of every
/// varying element and the request id and time of an error message replaced by `*`.
async fn masked_body(response: Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/xml");
    let mut body = response.text().await.unwrap();
    for name in ["Etag", "Last-Modified", "Creation-Time", "Snapshot"] {
        body = mask_elements(&body, name);
    }
    if let Some(at) = body.find("\nRequestId:") {
        let end = body[at..].find("</Message>").unwrap() + at;
        body.replace_range(at..end, "\nRequestId:*\nTime:*");
    }
    body
}

fn mask_elements(xml: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let text_at = at + open.len();
        let end = rest[text_at..].find(&close).unwrap() + text_at;
        out.push_str(&rest[..text_at]);
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

async fn ok(response: Response) -> Response {
    assert!(
        response.status().is_success(),
        "{}: {}",
        response.status(),
        response.text().await.unwrap()
    );
    response
}

/// Container `golden` (public blob access, metadata, two access policies) holding a block
/// blob with metadata, a block blob below `dir/`, a page blob with a snapshot, and an empty
/// container `plain`.
async fn populate(client: &BlobClient) -> String {
    ok(client
        .send(
            Method::PUT,
            "/golden",
            "restype=container",
            &[
                ("x-ms-meta-color", "blue"),
                ("x-ms-blob-public-access", "blob"),
            ],
            vec![],
        )
        .await)
    .await;
    ok(client.create_container("plain").await).await;
    let acl = "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>\
        <SignedIdentifier><Id>read&amp;list</Id><AccessPolicy><Start>2024-01-01T00:00:00Z</Start>\
        <Expiry>2030-01-01T00:00:00Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier>\
        <SignedIdentifier><Id>p2</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier>\
        </SignedIdentifiers>";
    ok(client
        .send(
            Method::PUT,
            "/golden",
            "comp=acl&restype=container",
            &[("x-ms-blob-public-access", "blob")],
            acl.as_bytes().to_vec(),
        )
        .await)
    .await;
    ok(client
        .send(
            Method::PUT,
            "/golden/a.txt",
            "",
            &[
                ("x-ms-blob-type", "BlockBlob"),
                ("x-ms-blob-content-type", "text/plain"),
                ("x-ms-meta-note", "a&b<c>'\""),
            ],
            b"hello".to_vec(),
        )
        .await)
    .await;
    ok(client
        .put_block_blob("/golden/dir/b.bin", b"0123456789".to_vec())
        .await)
    .await;
    ok(client.create_page_blob("/golden/disk.vhd", 4096).await).await;
    for offset in [0, 1024] {
        ok(client
            .try_put_page("/golden/disk.vhd", offset, vec![7; 512])
            .await
            .unwrap())
        .await;
    }
    let snapshot = ok(client.try_snapshot("/golden/disk.vhd").await.unwrap()).await;
    let snapshot = snapshot.headers()["x-ms-snapshot"]
        .to_str()
        .unwrap()
        .to_owned();
    ok(client
        .send(
            Method::PUT,
            "/golden/disk.vhd",
            "comp=page",
            &[("x-ms-page-write", "clear"), ("x-ms-range", "bytes=0-511")],
            vec![],
        )
        .await)
    .await;
    ok(client
        .try_put_page("/golden/disk.vhd", 2048, vec![9; 1024])
        .await
        .unwrap())
    .await;
    snapshot
}

#[tokio::test]
async fn every_xml_response_is_byte_for_byte_what_clients_parse() {
    let app = TestApp::spawn().await;
    let client = &app.client;
    let snapshot = populate(client).await;
    let endpoint = format!("http://{}/{ACCOUNT}/", client.addr);
    let get = |path: &'static str, query: String| async move {
        client.send(Method::GET, path, &query, &[], vec![]).await
    };

    let containers = masked_body(get("/", "comp=list&include=metadata".into()).await, 200).await;
    assert_eq!(
        containers,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{endpoint}\">\
             <Prefix></Prefix><Marker></Marker><MaxResults>5000</MaxResults><Containers>\
             <Container><Name>golden</Name><Properties><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><PublicAccess>blob</PublicAccess>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>\
             <Metadata><color>blue</color></Metadata></Container>\
             <Container><Name>plain</Name><Properties><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>\
             <Metadata></Metadata></Container>\
             </Containers><NextMarker></NextMarker></EnumerationResults>"
        )
    );
    let paged = masked_body(
        get("/", "comp=list&maxresults=1&prefix=g".into()).await,
        200,
    )
    .await;
    assert_eq!(
        paged,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{endpoint}\">\
             <Prefix>g</Prefix><Marker></Marker><MaxResults>1</MaxResults><Containers>\
             <Container><Name>golden</Name><Properties><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><PublicAccess>blob</PublicAccess>\
             <HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties>\
             </Container></Containers><NextMarker></NextMarker></EnumerationResults>"
        )
    );
    let none = masked_body(get("/", "comp=list&prefix=zz".into()).await, 200).await;
    assert_eq!(
        none,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{endpoint}\">\
             <Prefix>zz</Prefix><Marker></Marker><MaxResults>5000</MaxResults><Containers></Containers>\
             <NextMarker></NextMarker></EnumerationResults>"
        )
    );

    let blobs = masked_body(
        get(
            "/golden",
            "comp=list&include=metadata,snapshots&restype=container".into(),
        )
        .await,
        200,
    )
    .await;
    let page_blob_properties = |length: u32| {
        format!(
            "<Properties><Creation-Time>*</Creation-Time><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <Content-Length>{length}</Content-Length><Content-Type>application/octet-stream</Content-Type>\
             <Content-Encoding></Content-Encoding><Content-Language></Content-Language><Content-MD5></Content-MD5>\
             <Content-Disposition></Content-Disposition><Cache-Control></Cache-Control>\
             <x-ms-blob-sequence-number>0</x-ms-blob-sequence-number><BlobType>PageBlob</BlobType>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <ServerEncrypted>true</ServerEncrypted></Properties>"
        )
    };
    assert_eq!(
        blobs,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{endpoint}\" ContainerName=\"golden\">\
             <Prefix></Prefix><Marker></Marker><MaxResults>5000</MaxResults><Blobs>\
             <Blob><Name>a.txt</Name><Properties><Creation-Time>*</Creation-Time><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <Content-Length>5</Content-Length><Content-Type>text/plain</Content-Type>\
             <Content-Encoding></Content-Encoding><Content-Language></Content-Language><Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5>\
             <Content-Disposition></Content-Disposition><Cache-Control></Cache-Control><BlobType>BlockBlob</BlobType>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <ServerEncrypted>true</ServerEncrypted></Properties>\
             <Metadata><note>a&amp;b&lt;c&gt;&apos;&quot;</note></Metadata></Blob>\
             <Blob><Name>dir/b.bin</Name><Properties><Creation-Time>*</Creation-Time><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <Content-Length>10</Content-Length><Content-Type>application/octet-stream</Content-Type>\
             <Content-Encoding></Content-Encoding><Content-Language></Content-Language><Content-MD5>eB5eJF1ptWaXm4bijSPyxw==</Content-MD5>\
             <Content-Disposition></Content-Disposition><Cache-Control></Cache-Control><BlobType>BlockBlob</BlobType>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <ServerEncrypted>true</ServerEncrypted></Properties><Metadata></Metadata></Blob>\
             <Blob><Name>disk.vhd</Name><Snapshot>*</Snapshot>{}<Metadata></Metadata></Blob>\
             <Blob><Name>disk.vhd</Name>{}<Metadata></Metadata></Blob>\
             </Blobs><NextMarker></NextMarker></EnumerationResults>",
            page_blob_properties(4096),
            page_blob_properties(4096),
        )
    );
    let by_directory = masked_body(
        get(
            "/golden",
            "comp=list&delimiter=%2F&maxresults=2&restype=container".into(),
        )
        .await,
        200,
    )
    .await;
    let (head, next_marker) = by_directory
        .split_once("<NextMarker>")
        .expect("a NextMarker element");
    assert!(!next_marker.starts_with('<'), "{by_directory}");
    assert_eq!(
        head,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"{endpoint}\" ContainerName=\"golden\">\
             <Prefix></Prefix><Marker></Marker><MaxResults>2</MaxResults><Delimiter>/</Delimiter><Blobs>\
             <Blob><Name>a.txt</Name><Properties><Creation-Time>*</Creation-Time><Last-Modified>*</Last-Modified><Etag>*</Etag>\
             <Content-Length>5</Content-Length><Content-Type>text/plain</Content-Type>\
             <Content-Encoding></Content-Encoding><Content-Language></Content-Language><Content-MD5>XUFAKrxLKna5cZ2REBfFkg==</Content-MD5>\
             <Content-Disposition></Content-Disposition><Cache-Control></Cache-Control><BlobType>BlockBlob</BlobType>\
             <LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>\
             <ServerEncrypted>true</ServerEncrypted></Properties></Blob>\
             <BlobPrefix><Name>dir/</Name></BlobPrefix></Blobs>"
        )
    );

    let acl = get("/golden", "comp=acl&restype=container".into()).await;
    assert_eq!(acl.headers()["x-ms-blob-public-access"], "blob");
    assert_eq!(
        masked_body(acl, 200).await,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers>\
         <SignedIdentifier><Id>read&amp;list</Id><AccessPolicy><Start>2024-01-01T00:00:00Z</Start>\
         <Expiry>2030-01-01T00:00:00Z</Expiry><Permission>rl</Permission></AccessPolicy></SignedIdentifier>\
         <SignedIdentifier><Id>p2</Id><AccessPolicy><Permission>r</Permission></AccessPolicy></SignedIdentifier>\
         </SignedIdentifiers>"
    );
    let no_acl = get("/plain", "comp=acl&restype=container".into()).await;
    assert_eq!(
        masked_body(no_acl, 200).await,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers></SignedIdentifiers>"
    );

    let ranges = masked_body(get("/golden/disk.vhd", "comp=pagelist".into()).await, 200).await;
    assert_eq!(
        ranges,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
         <PageRange><Start>1024</Start><End>1535</End></PageRange>\
         <PageRange><Start>2048</Start><End>3071</End></PageRange></PageList>"
    );
    let diff_query = format!(
        "comp=pagelist&prevsnapshot={}",
        percent_encoding::utf8_percent_encode(&snapshot, percent_encoding::NON_ALPHANUMERIC)
    );
    let diff = masked_body(get("/golden/disk.vhd", diff_query.clone()).await, 200).await;
    assert_eq!(
        diff,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
         <ClearRange><Start>0</Start><End>511</End></ClearRange>\
         <PageRange><Start>2048</Start><End>3071</End></PageRange></PageList>"
    );
    let first = masked_body(
        get("/golden/disk.vhd", format!("{diff_query}&maxresults=1")).await,
        200,
    )
    .await;
    assert_eq!(
        first,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
         <ClearRange><Start>0</Start><End>511</End></ClearRange><NextMarker>4</NextMarker></PageList>"
    );
    let last = masked_body(
        get(
            "/golden/disk.vhd",
            format!("{diff_query}&maxresults=1&marker=4"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        last,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><PageList>\
         <PageRange><Start>2048</Start><End>3071</End></PageRange><NextMarker></NextMarker></PageList>"
    );
    let empty = masked_body(
        get(
            "/golden/disk.vhd",
            format!("comp=pagelist&snapshot={}", {
                percent_encoding::utf8_percent_encode(&snapshot, percent_encoding::NON_ALPHANUMERIC)
            }),
        )
        .await,
        200,
    )
    .await;
    assert!(empty.contains("<PageRange><Start>0</Start>"), "{empty}");

    for (id, data) in [
        ("QUFBQQ==", "one"),
        ("QkJCQg==", "two"),
        ("Q0NDQw==", "three"),
    ] {
        ok(client
            .send(
                Method::PUT,
                "/golden/blocks",
                &format!("blockid={}&comp=block", id.replace('=', "%3D")),
                &[],
                data.as_bytes().to_vec(),
            )
            .await)
        .await;
    }
    let block_list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>\
        <Latest>QUFBQQ==</Latest><Uncommitted>QkJCQg==</Uncommitted></BlockList>";
    ok(client
        .send(
            Method::PUT,
            "/golden/blocks",
            "comp=blocklist",
            &[],
            block_list.as_bytes().to_vec(),
        )
        .await)
    .await;
    ok(client
        .send(
            Method::PUT,
            "/golden/blocks",
            "blockid=RERERA%3D%3D&comp=block",
            &[],
            b"four".to_vec(),
        )
        .await)
    .await;
    let all = masked_body(
        get("/golden/blocks", "blocklisttype=all&comp=blocklist".into()).await,
        200,
    )
    .await;
    assert_eq!(
        all,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>\
         <Block><Name>QUFBQQ==</Name><Size>3</Size></Block>\
         <Block><Name>QkJCQg==</Name><Size>3</Size></Block></CommittedBlocks>\
         <UncommittedBlocks><Block><Name>RERERA==</Name><Size>4</Size></Block></UncommittedBlocks></BlockList>"
    );
    let committed = masked_body(get("/golden/blocks", "comp=blocklist".into()).await, 200).await;
    assert_eq!(
        committed,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><CommittedBlocks>\
         <Block><Name>QUFBQQ==</Name><Size>3</Size></Block>\
         <Block><Name>QkJCQg==</Name><Size>3</Size></Block></CommittedBlocks></BlockList>"
    );
    let uncommitted = masked_body(
        get(
            "/golden/a.txt",
            "blocklisttype=uncommitted&comp=blocklist".into(),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        uncommitted,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><UncommittedBlocks></UncommittedBlocks></BlockList>"
    );

    let missing = get("/golden/missing", String::new()).await;
    assert_eq!(missing.headers()["x-ms-error-code"], "BlobNotFound");
    assert_eq!(
        masked_body(missing, 404).await,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code>\
         <Message>The specified blob does not exist.\nRequestId:*\nTime:*</Message></Error>"
    );
    let bad_header = client
        .send(
            Method::PUT,
            "/golden/disk.vhd",
            "comp=page",
            &[("x-ms-page-write", "<both>"), ("x-ms-range", "bytes=0-511")],
            vec![0; 512],
        )
        .await;
    assert_eq!(
        masked_body(bad_header, 400).await,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>InvalidHeaderValue</Code>\
         <Message>The value for one of the HTTP headers is not in the correct format. Expected update or clear.\
         \nRequestId:*\nTime:*</Message>\
         <HeaderName>x-ms-page-write</HeaderName><HeaderValue>&lt;both&gt;</HeaderValue></Error>"
    );
}
