"""The training losses, on the embeddings of a lip window and of its positive and negative audio
windows."""
import torch
import torch.nn.functional as F


def contrastive_loss(lip, positive, negative, margin):
    """The paper's loss on the Euclidean distance the scorer uses: positives pulled together,
    negatives pushed beyond `margin`; the two halves weigh equally whatever the ratio.

    The zero vector is one more negative of every lip window: the scorer compares a window
    with zero audio features at shifts past either end of the clip (the reference's padding), so
    a lip feature nearer to 0 than to its own audio would make an end shift win on short clips.
    """
    repeats = len(negative) // len(lip)
    near = F.pairwise_distance(lip, positive)
    far = torch.cat([F.pairwise_distance(lip.repeat_interleave(repeats, 0), negative),
                     F.pairwise_distance(lip, torch.zeros_like(lip))])
    return 0.5 * (near.pow(2).mean() + F.relu(margin - far).pow(2).mean())


def bce_loss(lip, positive, negative):
    """Wav2Lip's expert loss: binary cross-entropy on the cosine of the ReLU'd embeddings."""
    repeats = len(negative) // len(lip)
    lips = F.relu(torch.cat([lip, lip.repeat_interleave(repeats, 0)]))
    audio = F.relu(torch.cat([positive, negative]))
    similarity = F.cosine_similarity(lips, audio).clamp(1e-7, 1 - 1e-7)
    labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))]).to(similarity.device)
    weights = torch.cat([torch.full((len(positive),), 0.5 / len(positive)),
                         torch.full((len(negative),), 0.5 / len(negative))]).to(similarity.device)
    return (F.binary_cross_entropy(similarity, labels, reduction="none") * weights).sum()
