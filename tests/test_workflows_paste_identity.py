"""The paste-back and identity workflows are wired the way their notes say."""
from workflow_util import links_by_id, load_workflow, shipped_workflows


def wired(workflow) -> set[tuple[str, str, str, str]]:
    """(origin type, output name, target type, input name) of every link."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    out = set()
    for origin, slot, target, target_slot, _kind in links_by_id(workflow).values():
        out.add((nodes[origin]["type"], nodes[origin]["outputs"][slot]["name"], nodes[target]["type"],
                 nodes[target]["inputs"][target_slot]["name"]))
    return out


def test_paste_back_workflow_goes_from_photos_to_the_first_photo():
    workflow = next(load_workflow(p) for p in shipped_workflows() if "FaceSpacePasteFaces" in p.read_text())
    links = wired(workflow)
    for link in [("FaceSpaceAlignFaces", "aligned", "FaceSpaceTrainEncoder", "images"),
                 ("FaceSpaceTrainEncoder", "facespace", "FaceSpaceBlendWeights", "facespace"),
                 ("FaceSpaceAlignFaces", "crops", "FaceSpacePasteFaces", "crops"),
                 ("FaceSpaceBlendWeights", "images", "FaceSpacePasteFaces", "faces"),
                 ("FaceSpacePasteFaces", "images", "SaveImage", "images"),
                 ("FaceSpaceBlendWeights", "images", "FaceSpaceFaceSimilarity", "images")]:
        assert link in links, link
    paste = next(n for n in workflow["nodes"] if n["type"] == "FaceSpacePasteFaces")
    assert paste["widgets_values"][0] == 0          # photo_index: the first photo


def test_identity_workflow_names_the_diffusion_nodes_in_a_note():
    workflow = next(load_workflow(p) for p in shipped_workflows() if "InstantID" in p.read_text())
    notes = " ".join(v for n in workflow["nodes"] if n["type"] == "Note" for v in n["widgets_values"])
    for name in ("IPAdapter FaceID", "InstantID", "PuLID", "BlendWeights"):
        assert name in notes, name
    assert ("FaceSpaceBlendWeights", "images", "SaveImage", "images") in wired(workflow)
    blend = next(n for n in workflow["nodes"] if n["type"] == "FaceSpaceBlendWeights")
    assert blend["widgets_values"][9] is True        # identity_chart on (after it: translate, rotate)
